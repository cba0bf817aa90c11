package ai.engram.zoo;

import ai.djl.repository.zoo.ModelZoo;

import java.util.Set;

/** The Engram model zoo: group {@code ai.engram}, PyTorch engine. */
public class EngramModelZoo extends ModelZoo {

    /** The zoo's group id, for {@code Criteria.optGroupId}. */
    public static final String GROUP_ID = "ai.engram";

    /** Registers the artifacts. */
    public EngramModelZoo() {
        addModel(new EngramModelLoader("engram-tiny", "/ai/engram/zoo/engram-tiny"));
        addModel(new EngramModelLoader("engram-27b", null));
        addModel(new EngramModelLoader("engram-40b", null));
        addModel(new EngramModelLoader("moe-27b", null));
    }

    @Override
    public String getGroupId() {
        return GROUP_ID;
    }

    @Override
    public Set<String> getSupportedEngines() {
        return Set.of("PyTorch");
    }
}
