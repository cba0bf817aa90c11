package ai.engram.block;

import ai.djl.Device;
import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDArrays;
import ai.djl.ndarray.NDList;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.index.NDIndex;
import ai.djl.ndarray.types.DataType;
import ai.djl.ndarray.types.Shape;
import ai.djl.ndarray.types.SparseFormat;
import ai.djl.nn.Activation;
import ai.djl.nn.Parameter;
import ai.djl.nn.core.Linear;
import ai.djl.training.ParameterStore;
import ai.djl.training.initializer.Initializer;
import ai.djl.util.PairList;

import java.util.Arrays;
import java.util.Optional;

/**
 * DeepSeekMoE: always-on shared experts plus {@code n_routed_experts} routed SwiGLU experts of which each token
 * uses {@code num_experts_per_tok}. Routing follows DeepSeek-V3: sigmoid affinities, top-k chosen on
 * affinity + a per-expert bias (auxiliary-loss-free balancing: the bias steers selection only and is updated
 * from load counts outside autograd by {@link #updateRoutingBias}), gate weights = the chosen affinities
 * renormalised to sum 1, times {@code routed_scaling_factor}.
 *
 * <p>Dispatch is vectorised: the B·T·k token-slots are sorted by expert, each expert runs once on its
 * contiguous slice, and the inverse permutation restores slot order; gathers use DJL's embedding op, which
 * also carries the gradient back to the tokens.
 *
 * <p>Input {@code [B, T, d]}, output {@code [B, T, d]}.
 */
public class MoEBlock extends ProjectionBlock {

    private static final byte VERSION = 1;
    /**
     * Up to this many tokens an inference forward runs without host synchronisation ({@link #gatheredExperts} or
     * {@link #allExperts}); beyond it (prefill, training) tokens are sorted by expert after reading the counts back,
     * and the experts run one after another over their slices ({@link #SORTED_EXPERTS}, inference), as one padded
     * batch for short prefills on a GPU ({@link #PADDED_BELOW_ROWS_PER_EXPERT}) and where the loop cannot run
     * ({@link #paddedExperts}), or one at a time by operations (training).
     */
    private static final int ALL_EXPERTS_MAX_TOKENS = 64;
    /**
     * Beyond it, inference runs experts as one padded batch unless that would compute more than this many times the
     * routed rows (very uneven routing); then, as in training, one expert at a time.
     */
    private static final long PADDING_WASTE = 4;
    /**
     * On a GPU, below this many routed rows per expert on average (a short prefill) inference runs the padded batch
     * rather than the loop over sorted rows: the loop launches ~4 kernels per expert and layer (6,380 per engram-27b
     * forward: 55 experts, 29 MoE layers), which bound small prefills by the host. Measured on an H100 (engram-27b
     * fp16 prefill, one process each, medians of 5), loop against padded batch: 112 rows per expert (1×1024) 158.4
     * against 153.2 ms, 223 (2×1024) 160.7 against 132.5, 447 (4×1024) 167.7 against 151.4, 1,787 (16×1024) 391.6
     * against 474.3. The crossover lies between 447 and 1,787; 512 keeps the measured wins.
     * {@code -Dengram.moePaddedBelowRows=N} sets the default of {@link Builder#optPaddedBelowRowsPerExpert} (0: the
     * loop always).
     */
    static final long PADDED_BELOW_ROWS_PER_EXPERT = Long.getLong("engram.moePaddedBelowRows", 512);
    /**
     * Many tokens at inference: each expert's contiguous slice of the sorted rows through its three products, one
     * expert after another inside one TorchScript call. No padding (the padded batch computes E times the largest
     * count) and no gathers into and out of it: on an H100, engram-27b's 16×1024 prefill took 519 ms against the
     * padded batch's 580. On a GPU with the native library {@link FusedKernels#sortedExperts} runs the same loop from
     * C++ (471 ms: the interpreter's cost per expert gone); this is its fallback. {@code -Dengram.moeSortedLoop=false}
     * keeps the padded batch, to measure one against the other.
     */
    private static final ScriptedFunction SORTED_EXPERTS = new ScriptedFunction("MoeSortedExperts",
            "x: Tensor, counts: Tensor, gate: Tensor, up: Tensor, down: Tensor", "Tensor",
            "    sizes: List[int] = counts.tolist()\n"
                    + "    out = torch.empty_like(x)\n"
                    + "    start = 0\n"
                    + "    for e in range(len(sizes)):\n"
                    + "        n = sizes[e]\n"
                    + "        if n > 0:\n"
                    + "            rows = torch.narrow(x, 0, start, n)\n"
                    + "            g = torch.matmul(rows, torch.t(gate[e]))\n"
                    + "            h = torch.mul(torch.mul(g, torch.sigmoid(g)), torch.matmul(rows, torch.t(up[e])))\n"
                    + "            torch.narrow(out, 0, start, n).copy_(torch.matmul(h, torch.t(down[e])))\n"
                    + "            start = start + n\n"
                    + "    return out\n",
            "scripted MoE experts over sorted rows",
            !"false".equals(System.getProperty("engram.moeSortedLoop")));

    /**
     * {@link #paddedExperts} in one TorchScript call: a short prefill on a GPU is bound by the host's cost per
     * operation (~80-150 µs per DJL operation on the H100 hosts, ~13 µs per operator inside a scripted call), and
     * the padded batch is a dozen DJL operations a layer. Same arithmetic and order as the operations.
     * {@code -Dengram.moePaddedScripted=false} keeps the operations, to measure one against the other.
     */
    private static final ScriptedFunction PADDED_EXPERTS = new ScriptedFunction("MoePaddedExperts",
            "x: Tensor, into: Tensor, back: Tensor, gate: Tensor, up: Tensor, down: Tensor", "Tensor",
            "    d = x.size(1)\n"
                    + "    rows = torch.cat([x, torch.zeros([1, d], dtype=x.dtype, device=x.device)], 0)\n"
                    + "    padded = torch.reshape(torch.index_select(rows, 0, into), [gate.size(0), -1, d])\n"
                    + "    g = torch.matmul(padded, torch.transpose(gate, 1, 2))\n"
                    + "    u = torch.matmul(padded, torch.transpose(up, 1, 2))\n"
                    + "    h = torch.mul(torch.mul(g, torch.sigmoid(g)), u)\n"
                    + "    out = torch.reshape(torch.matmul(h, torch.transpose(down, 1, 2)), [-1, d])\n"
                    + "    return torch.index_select(out, 0, back)\n",
            "scripted MoE experts as one padded batch",
            !"false".equals(System.getProperty("engram.moePaddedScripted")));

    /**
     * {@code -Dengram.moePrefillScripted=false}: many tokens' routing, dispatch, combine and shared experts by DJL
     * operations instead of {@link ScriptedMoEPrefill}'s two calls (to measure one against the other).
     */
    private static final boolean PREFILL_SCRIPTED =
            !"false".equals(System.getProperty("engram.moePrefillScripted"));

    private final int hiddenSize;
    private final int numExperts;
    private final int topK;
    private final int expertSize;
    private final double routedScalingFactor;
    private final int numGroups;
    private final int topKGroups;
    private final boolean normalizeTopK;
    private final DataType routerType;
    private final long paddedBelowRowsPerExpert;
    private final Parameter router;
    private final Parameter routingBias;
    private final Parameter expertGate;
    private final Parameter expertUp;
    private final Parameter expertDown;
    private final SwiGLU shared;
    /** The inference forward of a few tokens as one TorchScript call (this block's DJL path as fallback). */
    private final ScriptedFunction decodeFunction;
    /** {@link #decodeFunction} with the chosen experts in one fused kernel (GPUs with {@link FusedKernels}). */
    private final ScriptedFunction fusedDecodeFunction;
    /** An inference forward of many tokens: routing and dispatch as one TorchScript call. */
    private final ScriptedFunction prefillRouteFunction;
    /** An inference forward of many tokens: the combine and the shared experts as one TorchScript call. */
    private final ScriptedFunction prefillTailFunction;
    /** {@link #prefillTailFunction} with the combine kernel (GPUs with {@link FusedKernels}). */
    private final ScriptedFunction fusedPrefillTailFunction;
    private final long[] load;

    protected MoEBlock(Builder b) {
        super(VERSION);
        hiddenSize = b.hiddenSize;
        numExperts = b.numExperts;
        topK = b.topK;
        expertSize = b.expertSize;
        routedScalingFactor = b.routedScalingFactor;
        numGroups = b.numGroups;
        topKGroups = b.topKGroups;
        normalizeTopK = b.normalizeTopK;
        routerType = b.routerType;
        paddedBelowRowsPerExpert = b.paddedBelowRowsPerExpert;
        load = new long[numExperts];
        router = projection("gate", numExperts, hiddenSize);
        routingBias = addParameter(Parameter.builder()
                .setName("gate.e_score_correction_bias")
                .setType(Parameter.Type.BIAS)
                .optShape(new Shape(numExperts))
                .optInitializer(Initializer.ZEROS)
                .optRequiresGrad(false)
                .build());
        expertGate = addParameter(Parameter.builder().setName("experts.gate_proj.weight").setType(Parameter.Type.WEIGHT)
                .optShape(new Shape(numExperts, expertSize, hiddenSize)).build());
        expertUp = addParameter(Parameter.builder().setName("experts.up_proj.weight").setType(Parameter.Type.WEIGHT)
                .optShape(new Shape(numExperts, expertSize, hiddenSize)).build());
        expertDown = addParameter(Parameter.builder().setName("experts.down_proj.weight").setType(Parameter.Type.WEIGHT)
                .optShape(new Shape(numExperts, hiddenSize, expertSize)).build());
        shared = b.numShared > 0
                ? addChildBlock("shared_experts", new SwiGLU(hiddenSize, b.numShared * expertSize))
                : null;
        decodeFunction = ScriptedMoEDecode.function(hiddenSize, numExperts, topK, numGroups, topKGroups,
                normalizeTopK, routedScalingFactor, routerType == DataType.FLOAT32, shared != null, false);
        fusedDecodeFunction = ScriptedMoEDecode.function(hiddenSize, numExperts, topK, numGroups, topKGroups,
                normalizeTopK, routedScalingFactor, routerType == DataType.FLOAT32, shared != null, true);
        prefillRouteFunction = ScriptedMoEPrefill.routeFunction(hiddenSize, numExperts, topK, numGroups, topKGroups,
                normalizeTopK, routedScalingFactor, routerType == DataType.FLOAT32);
        prefillTailFunction = ScriptedMoEPrefill.tailFunction(hiddenSize, topK, shared != null, false);
        fusedPrefillTailFunction = ScriptedMoEPrefill.tailFunction(hiddenSize, topK, shared != null, true);
    }

    /** @return a builder */
    public static Builder builder() {
        return new Builder();
    }

    @Override
    protected NDList forwardInternal(ParameterStore ps, NDList inputs, boolean training, PairList<String, Object> params) {
        NDArray x = inputs.singletonOrThrow();
        Shape shape = x.getShape();
        if (shape.tail() != hiddenSize) {
            throw new IllegalArgumentException("MoE expects [..., " + hiddenSize + "], got " + shape);
        }
        if (!training && shape.size() / hiddenSize <= ALL_EXPERTS_MAX_TOKENS) {
            NDList arguments = decodeArguments(ps, x);
            Optional<NDArray> scripted = FusedKernels.usable(x.getDevice())
                    ? fusedDecodeFunction.callSingle(arguments) : Optional.empty();
            if (scripted.isEmpty()) {
                scripted = decodeFunction.callSingle(arguments);
            }
            if (scripted.isPresent()) {
                return new NDList(scripted.get());
            }
        }
        return new NDList(forwardByOperations(ps, x, training));
    }

    /**
     * The forward as DJL operations: what runs in training, for many tokens, and where {@link #decodeFunction}
     * cannot; the reference of the scripted decode in tests. At inference, many tokens' routing and dispatch, and
     * their combine and shared experts, run as two scripted calls ({@link ScriptedMoEPrefill}) where they can.
     *
     * @param ps parameter store
     * @param x {@code [..., d]}
     * @param training whether this is a training forward (expert loads are counted)
     * @return {@code [..., d]}
     */
    NDArray forwardByOperations(ParameterStore ps, NDArray x, boolean training) {
        Shape shape = x.getShape();
        NDManager manager = x.getManager();
        NDArray flat = x.reshape(-1, hiddenSize);
        long tokens = flat.getShape().get(0);

        if (!training && tokens > ALL_EXPERTS_MAX_TOKENS && PREFILL_SCRIPTED) {
            Device device = x.getDevice();
            Optional<NDList> route = prefillRouteFunction.call(new NDList(flat, ps.getValue(router, device, false),
                    ps.getValue(routingBias, device, false)));
            if (route.isPresent()) {
                NDList r = route.get();   // sorted rows, counts, slot positions, weights
                return sortedForward(ps, x, flat, r.get(0), r.get(1).toLongArray(), r.get(2), r.get(3), false);
            }
        }
        NDArray scores = scores(ps, flat, training);                             // [N, E], float32
        NDArray chosen = route(ps, scores);                                       // [N, k], experts ascending
        NDArray weights = routingWeights(scores, chosen);                        // [N, k], float32

        if (!training && tokens <= ALL_EXPERTS_MAX_TOKENS) {
            NDArray routed = tokens * topK * 4 <= numExperts
                    ? gatheredExperts(ps, flat, chosen, weights) : allExperts(ps, flat, chosen, weights);
            return withShared(ps, flat, routed, x.getDataType(), training).reshape(shape);
        }

        NDArray slotExpert = chosen.flatten();                                   // [N·k]
        NDArray order = slotExpert.argSort(0, true);                             // slots sorted by expert
        NDArray slotToken = manager.arange(0, (int) tokens, 1, DataType.INT64).reshape(tokens, 1)
                .repeat(1, topK).flatten();
        NDArray sortedTokens = slotToken.get(new NDIndex("{}", order));
        long[] counts = slotExpert.oneHot(numExperts, DataType.INT64).sum(new int[] {0}).toLongArray();
        NDArray dispatched = gatherRows(sortedTokens, flat);                     // [N·k, d]
        NDArray positions = order.argSort(0, true).reshape(tokens, topK);       // slot -> its sorted position
        return sortedForward(ps, x, flat, dispatched, counts, positions, weights, training);
    }

    /**
     * Many tokens after routing: the experts over the rows sorted by expert, each token's outputs weighted and
     * added, and the shared experts.
     *
     * @param x the block's input {@code [..., d]}
     * @param flat its rows {@code [N, d]}
     * @param dispatched the token rows sorted by expert {@code [N·k, d]}
     * @param counts rows per expert (host)
     * @param positions each token-slot's row among the sorted ones {@code [N, k]}
     * @param weights routing weights {@code [N, k]}
     * @return {@code [..., d]}
     */
    private NDArray sortedForward(ParameterStore ps, NDArray x, NDArray flat, NDArray dispatched, long[] counts,
            NDArray positions, NDArray weights, boolean training) {
        NDManager manager = x.getManager();
        long tokens = flat.getShape().get(0);
        if (training) {
            for (int e = 0; e < numExperts; e++) {
                load[e] += counts[e];
            }
        }
        NDArray gate = ps.getValue(expertGate, x.getDevice(), training);
        NDArray up = ps.getValue(expertUp, x.getDevice(), training);
        NDArray down = ps.getValue(expertDown, x.getDevice(), training);
        long capacity = Arrays.stream(counts).max().orElse(0);
        boolean paddingAffordable = capacity * numExperts <= PADDING_WASTE * tokens * topK;
        boolean fewRowsPerExpert = x.getDevice().isGpu() && tokens * topK < paddedBelowRowsPerExpert * numExperts;
        NDArray expertOut;
        Optional<NDArray> sorted = Optional.empty();
        if (!training && !(fewRowsPerExpert && paddingAffordable)) {
            try (NDManager host = manager.newSubManager(Device.cpu())) {   // the counts are read on the host
                NDArray sizes = host.create(counts);
                sorted = FusedKernels.sortedExperts(dispatched, sizes, gate, up, down);
                if (sorted.isEmpty()) {
                    sorted = SORTED_EXPERTS.callSingle(new NDList(dispatched, sizes, gate, up, down));
                }
            }
        }
        if (sorted.isPresent()) {
            expertOut = sorted.get();
        } else if (!training && paddingAffordable) {
            expertOut = paddedExperts(dispatched, counts, capacity, gate, up, down);
        } else {
            NDList outputs = new NDList();
            long start = 0;
            for (int e = 0; e < numExperts; e++) {
                if (counts[e] == 0) {
                    continue;
                }
                NDArray slice = dispatched.get(new NDIndex("{}:{}", start, start + counts[e]));
                outputs.add(SwiGLU.swiGlu(slice, row(gate, e, manager), row(up, e, manager), row(down, e, manager)));
                start += counts[e];
            }
            expertOut = outputs.size() == 1 ? outputs.get(0) : NDArrays.concat(outputs, 0);
        }
        if (!training && PREFILL_SCRIPTED) {
            NDList arguments = new NDList(x, expertOut, positions, weights);
            if (shared != null) {
                arguments.addAll(shared.weights(ps, x.getDevice()));
            }
            Optional<NDArray> tail = (FusedKernels.moeCombineUsable(x.getDevice()) ? fusedPrefillTailFunction
                    : prefillTailFunction).callSingle(arguments);
            if (tail.isPresent()) {
                return tail.get();
            }
        }
        Optional<NDArray> combined = training ? Optional.empty()
                : FusedKernels.moeCombine(expertOut, positions, weights);
        NDArray routed = combined.isPresent() ? combined.get()
                : gatherRows(positions.flatten(), expertOut).reshape(tokens, topK, hiddenSize)   // back to slot order
                        .mul(weights.expandDims(-1)).sum(new int[] {1});
        return withShared(ps, flat, routed, x.getDataType(), training).reshape(x.getShape());
    }

    /** @return the scripted experts loop over sorted rows of many tokens (for tests) */
    static ScriptedFunction sortedExpertsFunction() {
        return SORTED_EXPERTS;
    }

    /** @return the scripted inference forward of a few tokens (for tests) */
    ScriptedFunction decodeFunction() {
        return decodeFunction;
    }

    /** @return the scripted inference forward of a few tokens with the fused experts kernel (for tests) */
    ScriptedFunction fusedDecodeFunction() {
        return fusedDecodeFunction;
    }

    /** The arguments of {@link #decodeFunction}: the input, then every weight the DJL path reads. */
    NDList decodeArguments(ParameterStore ps, NDArray x) {
        Device device = x.getDevice();
        NDList arguments = new NDList(x, ps.getValue(router, device, false), ps.getValue(routingBias, device, false),
                ps.getValue(expertGate, device, false), ps.getValue(expertUp, device, false),
                ps.getValue(expertDown, device, false));
        if (shared != null) {
            arguments.addAll(shared.weights(ps, device));
        }
        return arguments;
    }

    /** The routed sum in the model's type (fp16 experts × float32 weights give float32), plus the shared experts. */
    private NDArray withShared(ParameterStore ps, NDArray flat, NDArray routed, DataType type, boolean training) {
        NDArray out = routed.getDataType() == type ? routed : routed.toType(type, false);
        if (shared != null) {
            out = out.add(shared.forward(ps, new NDList(flat), training).singletonOrThrow());
        }
        return out;
    }

    /**
     * Many tokens (prefill): every expert's tokens in one padded batch {@code [E, C, d]} ({@code C} the largest
     * count), three batched products for all experts, and the outputs taken back in sorted-slot order — a dozen
     * operations instead of a dozen per expert. Padding rows read a zero row and are never taken back.
     *
     * @param dispatched token rows sorted by expert {@code [N·k, d]}
     * @param counts slots per expert (on the host)
     * @param capacity the largest count
     * @return expert outputs in the same sorted order {@code [N·k, d]}
     */
    private NDArray paddedExperts(NDArray dispatched, long[] counts, long capacity, NDArray gate, NDArray up,
            NDArray down) {
        NDManager scope = dispatched.getManager();
        long[][] positions = paddingPositions(counts, capacity);
        NDArray into = scope.create(positions[0]);
        NDArray back = scope.create(positions[1]);
        Optional<NDArray> scripted = PADDED_EXPERTS.callSingle(new NDList(dispatched, into, back, gate, up, down));
        if (scripted.isPresent()) {
            return scripted.get();
        }
        NDArray withZero = NDArrays.concat(new NDList(dispatched, scope.zeros(new Shape(1, hiddenSize),
                dispatched.getDataType())), 0);
        NDArray padded = gatherRows(into, withZero).reshape(numExperts, capacity, hiddenSize);
        NDArray g = padded.matMul(transposed(gate, scope));                                // [E, C, f]
        NDArray h = g.mul(Activation.sigmoid(g)).mul(padded.matMul(transposed(up, scope)));
        NDArray out = h.matMul(transposed(down, scope)).reshape(numExperts * capacity, hiddenSize);
        return gatherRows(back, out);
    }

    /**
     * Where each expert's sorted rows go in the padded batch and back.
     *
     * @param counts rows per expert, in sorted order
     * @param capacity the padded rows per expert (at least the largest count)
     * @return {@code [into, back]}: into {@code [E·C]} the sorted row each padded position reads (the row after the
     *     last, a zero row, for padding); back {@code [Σ counts]} the padded position of each sorted row
     */
    static long[][] paddingPositions(long[] counts, long capacity) {
        int slots = Math.toIntExact(Arrays.stream(counts).sum());
        long[] into = new long[Math.toIntExact(counts.length * capacity)];
        long[] back = new long[slots];
        int slot = 0;
        for (int e = 0; e < counts.length; e++) {
            if (counts[e] > capacity) {
                throw new IllegalArgumentException("expert " + e + " has " + counts[e] + " rows, above the capacity "
                        + capacity);
            }
            for (int c = 0; c < capacity; c++) {
                int position = Math.toIntExact(e * capacity + c);
                if (c < counts[e]) {
                    into[position] = slot;
                    back[slot++] = position;
                } else {
                    into[position] = slots; // the zero row appended after the sorted rows
                }
            }
        }
        return new long[][] {into, back};
    }

    /** @return the scripted routing and dispatch of many tokens (for tests) */
    ScriptedFunction prefillRouteFunction() {
        return prefillRouteFunction;
    }

    /** @return the scripted combine and shared experts of many tokens, as this device runs them (for tests) */
    ScriptedFunction prefillTailFunction(Device device) {
        return FusedKernels.moeCombineUsable(device) ? fusedPrefillTailFunction : prefillTailFunction;
    }

    /** @return the scripted padded batch of a short prefill's experts (for tests) */
    static ScriptedFunction paddedExpertsFunction() {
        return PADDED_EXPERTS;
    }

    /**
     * Decoding a few tokens: the chosen experts' weights are gathered ({@code [N, k, f, d]}) and applied with batched
     * matrix products. A dozen operations and no host synchronisation, instead of a dozen operations per expert
     * after reading the per-expert counts back to the host; the gathered copy is k experts per token, so this
     * is for {@code N·k} well below E.
     *
     * @return the weighted sum over each token's experts {@code [N, d]} (float32 when the weights are)
     */
    private NDArray gatheredExperts(ParameterStore ps, NDArray flat, NDArray chosen, NDArray weights) {
        long tokens = flat.getShape().get(0);
        NDArray slots = chosen.flatten();                                                  // [N·k]
        Shape byToken = new Shape(tokens, topK, expertSize, hiddenSize);
        NDArray gate = gatherRows(slots, stacked(ps, expertGate, flat)).reshape(byToken);   // [N, k, f, d]
        NDArray up = gatherRows(slots, stacked(ps, expertUp, flat)).reshape(byToken);
        NDArray down = gatherRows(slots, stacked(ps, expertDown, flat))
                .reshape(tokens, topK, hiddenSize, expertSize);                            // [N, k, d, f]
        NDArray column = flat.reshape(tokens, 1, hiddenSize, 1);                           // [N, 1, d, 1]
        NDArray g = gate.matMul(column);                                                   // [N, k, f, 1]
        NDArray h = g.mul(Activation.sigmoid(g)).mul(up.matMul(column));
        NDArray perSlot = down.matMul(h).reshape(tokens, topK, hiddenSize);                // [N, k, d]
        return perSlot.mul(weights.expandDims(-1)).sum(new int[] {1});
    }

    /**
     * Decoding a batch: every expert runs on every token ({@code [E, N, ·]} batched products) and the outputs are
     * summed with the routing weights, zero for experts a token did not choose. E/k times the arithmetic of the
     * routed tokens alone, but a fixed dozen operations, no host synchronisation and each expert's weights read
     * once: for small N the step is bound by operations and memory, not arithmetic.
     *
     * @return the weighted sum over each token's experts {@code [N, d]} (float32 when the weights are)
     */
    private NDArray allExperts(ParameterStore ps, NDArray flat, NDArray chosen, NDArray weights) {
        NDArray x = flat.expandDims(0);                                                    // [1, N, d]
        NDArray gate = ps.getValue(expertGate, flat.getDevice(), false);
        NDArray up = ps.getValue(expertUp, flat.getDevice(), false);
        NDArray down = ps.getValue(expertDown, flat.getDevice(), false);
        NDManager scope = flat.getManager();
        NDArray g = x.matMul(transposed(gate, scope));                                     // [E, N, f]
        NDArray h = g.mul(Activation.sigmoid(g)).mul(x.matMul(transposed(up, scope)));
        NDArray perExpert = h.matMul(transposed(down, scope));                             // [E, N, d]
        NDArray dense = chosen.oneHot(numExperts, weights.getDataType()).mul(weights.expandDims(-1))
                .sum(new int[] {1});                                                       // [N, E]
        return perExpert.mul(dense.transpose().expandDims(-1)).sum(new int[] {0});
    }

    /**
     * An expert weight {@code [E, a, b]} as {@code [E, a·b]}, so that one embedding lookup gathers experts. The view
     * belongs to the forward's scope: an operation on a parameter returns an array in the model's manager.
     */
    private static NDArray stacked(ParameterStore ps, Parameter parameter, NDArray like) {
        NDArray w = ps.getValue(parameter, like.getDevice(), false);
        Shape s = w.getShape();
        NDArray view = w.reshape(s.get(0), s.get(1) * s.get(2));
        view.attach(like.getManager());
        return view;
    }

    /** {@code [E, a, b]} as {@code [E, b, a]} (a view), owned by the forward's scope. */
    private static NDArray transposed(NDArray weight, NDManager scope) {
        NDArray view = weight.transpose(0, 2, 1);
        view.attach(scope);
        return view;
    }

    /**
     * Affinities {@code sigmoid(x · W_gate^T)} {@code [N, E]}, computed in float32 whatever the model's type, as
     * DeepSeek-V3 (and transformers) do: routing decisions must not depend on fp16 rounding (the router type may be
     * set to null to compute in the model's type).
     */
    private NDArray scores(ParameterStore ps, NDArray flat, boolean training) {
        NDArray weight = ps.getValue(router, flat.getDevice(), training);
        DataType type = routerType == null ? flat.getDataType() : routerType;
        NDArray x = flat.getDataType() == type ? flat : flat.toType(type, false);
        NDArray w = weight;
        if (weight.getDataType() != type) {
            w = weight.toType(type, false);
            w.attach(flat.getManager());   // a per-forward copy: the forward's scope owns it, not the model
        }
        return Activation.sigmoid(Linear.linear(x, w).singletonOrThrow());
    }

    /**
     * DeepSeek-V3's {@code noaux_tc} selection: affinity + balancing bias; with {@code n_group > 1} only the
     * {@code topk_group} groups with the best top-2 sums compete (the others are masked out); then the top k.
     * Outside autograd.
     *
     * @return chosen experts {@code [N, k]} (int64), ascending within each token, so that slot order is expert order
     *     and the weighted sum adds experts in the order the reference's per-expert loop does
     */
    private NDArray route(ParameterStore ps, NDArray scores) {
        NDArray bias = ps.getValue(routingBias, scores.getDevice(), false);
        NDArray choice = scores.stopGradient().add(bias);
        if (numGroups > 1) {
            long tokens = choice.getShape().get(0);
            int perGroup = numExperts / numGroups;
            NDArray groupScores = choice.reshape(tokens, numGroups, perGroup).topK(Math.min(2, perGroup), -1, true,
                    false).get(0).sum(new int[] {-1});                                       // [N, G]
            NDArray bestGroups = groupScores.topK(topKGroups, -1, true, false).get(1);     // [N, g]
            NDArray groupMask = bestGroups.oneHot(numGroups, DataType.INT64).sum(new int[] {1}).gt(0); // [N, G]
            NDArray expertMask = groupMask.expandDims(-1).repeat(2, perGroup).reshape(tokens, numExperts);
            NDArray excluded = choice.getManager().full(choice.getShape(), Float.NEGATIVE_INFINITY, choice.getDataType());
            choice = NDArrays.where(expertMask, choice, excluded);
        }
        return choice.topK(topK, -1, true, false).get(1).sort(-1);
    }

    /**
     * Gate weights of the chosen experts: their affinities (without bias), renormalised to sum 1 when
     * {@code norm_topk_prob} (plus 1e-20, as the reference), times {@code routed_scaling_factor}; float32.
     */
    private NDArray routingWeights(NDArray scores, NDArray chosen) {
        NDArray weights = scores.gather(chosen, 1);
        if (normalizeTopK) {
            weights = weights.div(Scalars.plus(weights.sum(new int[] {-1}, true), 1e-20));
        }
        return Scalars.times(weights, routedScalingFactor);
    }

    /** Rows {@code source[indices]}; DJL's embedding op is its fastest gather and is differentiable in source. */
    private static NDArray gatherRows(NDArray indices, NDArray source) {
        return indices.getNDArrayInternal().embedding(indices, source, SparseFormat.DENSE).singletonOrThrow();
    }

    /** @return token-slots routed to each expert since the last {@link #updateRoutingBias} (training only) */
    public long[] getExpertLoad() {
        return load.clone();
    }

    /**
     * Auxiliary-loss-free balancing: every expert's selection bias moves by {@code speed} towards balance
     * (up if it was under-loaded, down if over-loaded), then the load counters restart.
     *
     * @param speed bias update speed (DeepSeek-V3: 0.001)
     */
    public void updateRoutingBias(float speed) {
        long total = Arrays.stream(load).sum();
        if (total == 0) {
            return;
        }
        double mean = (double) total / numExperts;
        float[] delta = new float[numExperts];
        for (int e = 0; e < numExperts; e++) {
            delta[e] = speed * (float) Math.signum(mean - load[e]);
        }
        NDArray bias = routingBias.getArray();
        try (NDManager scope = bias.getManager().newSubManager()) {
            // In place and outside autograd: the bias only steers selection.
            bias.addi(scope.create(delta).toType(bias.getDataType(), false));
        }
        Arrays.fill(load, 0);
    }

    /** @return the selection bias parameter {@code [E]} */
    public Parameter getRoutingBias() {
        return routingBias;
    }

    @Override
    protected void initializeChildBlocks(NDManager manager, DataType dataType, Shape... inputShapes) {
        if (shared != null) {
            shared.initialize(manager, dataType, inputShapes[0]);
        }
    }

    @Override
    public Shape[] getOutputShapes(Shape[] inputShapes) {
        return new Shape[] {inputShapes[0]};
    }

    /** Builds a {@link MoEBlock} from DeepSeek-V3's config names. */
    public static final class Builder {
        private int hiddenSize;
        private int numExperts;
        private int topK;
        private int expertSize;
        private int numShared;
        private double routedScalingFactor = 1.0;
        private int numGroups = 1;
        private int topKGroups = 1;
        private boolean normalizeTopK = true;
        private DataType routerType = DataType.FLOAT32;
        private long paddedBelowRowsPerExpert = PADDED_BELOW_ROWS_PER_EXPERT;

        private Builder() {}

        /**
         * @param groups n_group: experts are split into this many equal groups
         * @param topKGroup topk_group: groups a token's experts may come from
         * @return this
         */
        public Builder optGroups(int groups, int topKGroup) {
            numGroups = groups;
            topKGroups = topKGroup;
            return this;
        }

        /**
         * @param type the type the router's affinities are computed in (float32, as DeepSeek-V3); null for the
         *     input's type
         * @return this
         */
        public Builder optRouterType(DataType type) {
            routerType = type;
            return this;
        }

        /** @param normalize norm_topk_prob: renormalise the chosen affinities to sum 1 (default true) @return this */
        public Builder optNormalizeTopK(boolean normalize) {
            normalizeTopK = normalize;
            return this;
        }

        public Builder setHiddenSize(int d) {
            hiddenSize = d;
            return this;
        }

        /** @param n n_routed_experts @return this */
        public Builder setRoutedExperts(int n) {
            numExperts = n;
            return this;
        }

        /** @param k num_experts_per_tok @return this */
        public Builder setExpertsPerToken(int k) {
            topK = k;
            return this;
        }

        /** @param size moe_intermediate_size @return this */
        public Builder setExpertSize(int size) {
            expertSize = size;
            return this;
        }

        /** @param n n_shared_experts @return this */
        public Builder optSharedExperts(int n) {
            numShared = n;
            return this;
        }

        /** @param factor routed_scaling_factor @return this */
        public Builder optRoutedScalingFactor(double factor) {
            routedScalingFactor = factor;
            return this;
        }

        /**
         * @param rows below this many routed rows per expert on average, a GPU inference forward of many tokens runs
         *     the experts as one padded batch instead of a loop over each expert's sorted rows (default 512, see
         *     {@link MoEBlock#PADDED_BELOW_ROWS_PER_EXPERT}; 0: the loop always)
         * @return this
         */
        public Builder optPaddedBelowRowsPerExpert(long rows) {
            paddedBelowRowsPerExpert = rows;
            return this;
        }

        /** @return the block */
        public MoEBlock build() {
            if (numGroups < 1 || numExperts % numGroups != 0 || topKGroups < 1 || topKGroups > numGroups
                    || (long) topKGroups * (numExperts / numGroups) < topK) {
                throw new IllegalArgumentException("invalid MoE groups: n_group=" + numGroups + " must divide "
                        + "n_routed_experts=" + numExperts + ", topk_group=" + topKGroups + " must be in [1, n_group] "
                        + "and leave at least num_experts_per_tok=" + topK + " experts");
            }
            if (paddedBelowRowsPerExpert < 0) {
                throw new IllegalArgumentException("rows per expert below which the padded batch runs must be >= 0, "
                        + "got " + paddedBelowRowsPerExpert);
            }
            if (hiddenSize < 1 || numExperts < 1 || expertSize < 1 || numShared < 0 || topK < 1 || topK > numExperts) {
                throw new IllegalArgumentException("invalid MoE config: hidden_size=" + hiddenSize
                        + ", n_routed_experts=" + numExperts + ", num_experts_per_tok=" + topK
                        + ", moe_intermediate_size=" + expertSize + ", n_shared_experts=" + numShared);
            }
            return new MoEBlock(this);
        }
    }
}
