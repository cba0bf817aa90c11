package ai.engram.block;

import ai.djl.ndarray.NDList;
import ai.djl.ndarray.types.Shape;
import ai.djl.nn.AbstractBlock;
import ai.djl.nn.Block;
import ai.djl.training.ParameterStore;
import ai.djl.util.PairList;

/**
 * {@code x → F(norm(x))}, the sub-layer a {@link HyperConnection} wraps in a pre-norm decoder layer, forwarding
 * its parameters (a {@link CacheSlot}) to F. DJL's {@code SequentialBlock} would drop them. The norm and F stay
 * children of the layer that owns them (their checkpoint names are the layer's {@code input_layernorm.*} and
 * {@code self_attn.*}), so this block declares neither and the owner initialises both.
 *
 * <p>Input {@code [B, T, d]}, output F's output, {@code [B, T, d]}.
 */
public class PreNorm extends AbstractBlock {

    private static final byte VERSION = 1;

    private final Block norm;
    private final Block sublayer;

    /**
     * @param norm the normalisation
     * @param sublayer F
     */
    public PreNorm(Block norm, Block sublayer) {
        super(VERSION);
        this.norm = norm;
        this.sublayer = sublayer;
    }

    @Override
    protected NDList forwardInternal(ParameterStore ps, NDList inputs, boolean training, PairList<String, Object> params) {
        return sublayer.forward(ps, norm.forward(ps, inputs, training, params), training, params);
    }

    @Override
    public Shape[] getOutputShapes(Shape[] inputShapes) {
        return sublayer.getOutputShapes(norm.getOutputShapes(inputShapes));
    }
}
