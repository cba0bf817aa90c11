package ai.engram.zoo;

import ai.djl.repository.zoo.ModelZoo;
import ai.djl.repository.zoo.ZooProvider;

/** Registers {@link EngramModelZoo} with DJL through {@code META-INF/services}. */
public class EngramZooProvider implements ZooProvider {

    @Override
    public ModelZoo getModelZoo() {
        return new EngramModelZoo();
    }
}
