package ai.engram.block;

import ai.djl.Device;
import ai.djl.Model;
import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDList;
import ai.djl.ndarray.NDManager;
import ai.djl.training.ParameterStore;

import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

import java.io.ByteArrayInputStream;
import java.util.Collections;
import java.util.Locale;
import java.util.Map;
import java.util.Optional;
import java.util.Set;
import java.util.concurrent.ConcurrentHashMap;

/**
 * PyTorch's {@code scaled_dot_product_attention} for DJL, whose JNI binds no fused attention: on a GPU it runs the
 * flash or memory-efficient kernels, which never write the {@code [B, H, Tq, Tk]} scores to memory (in a prefill of
 * 16 × 1024 tokens with 32 heads those are 1 GB per layer in float16, written, read by the softmax, written again
 * and read by the second product). It is a TorchScript module of one call ({@link TorchScriptArchive}) per variant,
 * loaded once per device through DJL's PyTorch engine and kept for the life of the process.
 *
 * <p>Three variants, because PyTorch's {@code is_causal} aligns the mask to the top left (query i sees keys 0..i),
 * which is right only without cached positions: causal (no cache, no padding), plain (one query after the cache:
 * it may see every key) and masked (an additive bias, as {@link Attention#causalAttention} builds it).
 *
 * <p>If the engine cannot load or run the module (another engine, a libtorch without the operator), the first
 * failure is logged and callers fall back to the materialised computation. A failure of a module that has run
 * before (out of memory, a bad shape) is the caller's and is thrown, as the written-out path would throw it. The
 * system property {@code engram.fusedAttention=false} turns the fused path off, to measure one against the other
 * in one run.
 */
final class FusedAttention {

    private static final Logger logger = LoggerFactory.getLogger(FusedAttention.class);
    private static final boolean ENABLED = !"false".equals(System.getProperty("engram.fusedAttention"));
    /** Loaded modules; a failed load leaves no entry and sets {@link #failed}. */
    private static final Map<Key, Model> MODULES = new ConcurrentHashMap<>();
    private static final NDManager HOST = NDManager.newBaseManager(Device.cpu());
    private static final Map<Double, NDArray> SCALES = new ConcurrentHashMap<>();
    /** Modules that have run once: a later failure is the caller's, not the engine's. */
    private static final Set<Key> PROVEN = ConcurrentHashMap.newKeySet();
    private static volatile boolean failed;

    /** What the module passes to {@code scaled_dot_product_attention} besides q, k, v and the scale. */
    enum Variant {
        CAUSAL("", "None, 0., True"),
        PLAIN("", "None, 0., False"),
        MASKED(",\n    bias: Tensor", "bias, 0., False");

        private final String extraParameter;
        private final String maskArguments;

        Variant(String extraParameter, String maskArguments) {
            this.extraParameter = extraParameter;
            this.maskArguments = maskArguments;
        }

        String className() {
            return "Sdpa" + name().charAt(0) + name().substring(1).toLowerCase(Locale.ROOT);
        }

        String source() {
            return "  def forward(self: __torch__." + className() + ",\n"
                    + "    q: Tensor,\n    k: Tensor,\n    v: Tensor,\n    scale: Tensor" + extraParameter + ") -> Tensor:\n"
                    + "    return torch.scaled_dot_product_attention(q, k, v, " + maskArguments
                    + ", scale=float(scale))\n";
        }
    }

    private record Key(Device device, Variant variant) {}

    private FusedAttention() {}

    /**
     * @param q {@code [B, H, Tq, dk]}
     * @param k {@code [B, H, Tk, dk]}
     * @param v {@code [B, H, Tk, dv]}
     * @param scale multiplier of the scores
     * @param variant which mask
     * @param bias the additive mask for {@link Variant#MASKED}, broadcastable to {@code [B, H, Tq, Tk]}; else null
     * @return {@code [B, H, Tq, dv]} in q's manager, or empty when the fused path is off or unavailable; gradients
     *     flow through it when they are being recorded
     */
    static Optional<NDArray> attend(NDArray q, NDArray k, NDArray v, double scale, Variant variant, NDArray bias) {
        if (!ENABLED || failed) {
            return Optional.empty();
        }
        Key key = new Key(q.getDevice(), variant);
        Model module = MODULES.computeIfAbsent(key, FusedAttention::load);
        if (module == null) {
            return Optional.empty();
        }
        NDList inputs = new NDList(q, k, v, scaleOnTheHost(scale));
        if (variant == Variant.MASKED) {
            inputs.add(bias);
        }
        try {
            ParameterStore ps = new ParameterStore(q.getManager(), false);
            // "training": DJL's JNI then calls the module as it is, so autograd follows the engine's grad mode as for
            // any other operation; its inference call would turn autograd off, and with
            // ai.djl.pytorch.enable_cuda_stream run on another CUDA stream than the operations around it
            NDArray out = module.getBlock().forward(ps, inputs, true).singletonOrThrow();
            PROVEN.add(key);
            return Optional.of(out);
        } catch (RuntimeException e) {
            if (PROVEN.contains(key)) {
                // The module has run here before: this is about the inputs or the device (out of memory, a bad
                // shape), not the engine; falling back would hide it and turn the fused path off for good.
                throw e;
            }
            disable("running", e);
            return Optional.empty();
        }
    }

    /**
     * The scale as a float64 CPU scalar: TorchScript's {@code float(scale)} reads it without waiting for the GPU, and
     * in full precision whatever the model's type. Cached per value (a model has one or two scales); never closed.
     */
    private static NDArray scaleOnTheHost(double scale) {
        return SCALES.computeIfAbsent(scale, s -> HOST.create(s.doubleValue()));
    }

    /** @return the loaded module, or null (logged) when the engine cannot load it */
    private static Model load(Key key) {
        Model model = Model.newInstance("engram-" + key.variant().className(), key.device(), "PyTorch");
        try {
            byte[] archive = TorchScriptArchive.module(key.variant().className(), key.variant().source());
            model.load(new ByteArrayInputStream(archive), Collections.emptyMap());
            return model;
        } catch (Exception | LinkageError e) {
            model.close();
            disable("loading", e);
            return null;
        }
    }

    private static void disable(String stage, Throwable cause) {
        if (!failed) {
            failed = true;
            logger.warn("fused attention unavailable ({} its TorchScript module failed: {}); attention writes its "
                    + "scores to memory instead", stage, cause.toString());
        }
    }
}
