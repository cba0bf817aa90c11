package ai.engram.block;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.types.Shape;
import ai.djl.nn.AbstractBlock;
import ai.djl.nn.Parameter;

/**
 * Base of this project's blocks that own {@code [out, in]} projections: declares them the way DJL's
 * {@code Linear} does, so every block names and shapes its weights identically.
 */
public abstract class ProjectionBlock extends AbstractBlock {

    protected ProjectionBlock(byte version) {
        super(version);
    }

    /**
     * @param name the projection's name; its weight is the parameter {@code <name>.weight}, as a
     *     {@code torch.nn.Linear} named so appears in a DeepSeek-V3 checkpoint
     * @param out output features
     * @param in input features
     * @return a {@code [out, in]} weight, Xavier-initialised by DJL's default for weights
     */
    protected final Parameter projection(String name, long out, long in) {
        return addParameter(Parameter.builder()
                .setName(name + ".weight")
                .setType(Parameter.Type.WEIGHT)
                .optShape(new Shape(out, in))
                .build());
    }

    /**
     * Row {@code i} of a parameter, owned by the forward's scope: a plain {@code get} would attach the slice to
     * the parameter's (long-lived) manager and leak one array per forward.
     *
     * @param parameterValue a parameter's array
     * @param i index along the first axis
     * @param scope the manager of the forward's inputs
     * @return the slice, differentiable like the parameter
     */
    protected static NDArray row(NDArray parameterValue, long i, NDManager scope) {
        NDArray slice = parameterValue.get(i);
        slice.attach(scope);
        return slice;
    }

    /**
     * @param name parameter name
     * @param out features
     * @return a zero-initialised {@code [out]} bias
     */
    protected final Parameter bias(String name, long out) {
        return addParameter(Parameter.builder()
                .setName(name)
                .setType(Parameter.Type.BIAS)
                .optShape(new Shape(out))
                .build());
    }
}
