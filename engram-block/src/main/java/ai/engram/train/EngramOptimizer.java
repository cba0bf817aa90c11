package ai.engram.train;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.index.NDIndex;
import ai.djl.ndarray.types.DataType;
import ai.djl.nn.Block;
import ai.djl.nn.Parameter;
import ai.djl.training.optimizer.Optimizer;
import ai.djl.training.tracker.Tracker;
import ai.engram.block.MultiHeadEmbedding;
import ai.engram.block.OwnedArrays;
import ai.engram.model.ParameterNames;

import java.util.ArrayList;
import java.util.HashMap;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/**
 * The optimizer of an Engram model, as the paper trains it: AdamW for the backbone, and a row-sparse Adam for
 * the N-gram tables — only the rows a step touched are updated (their moments too), at {@code tableLrMultiplier}
 * × the learning rate (5× in the paper) and without weight decay. DJL's dense table gradient would touch every
 * row of a multi-gigabyte table each step, and its sparse gradient crashes Adam.
 *
 * <p>Plugged into DJL's {@code Trainer} as its optimizer (dense parameters arrive through {@link #update}); the
 * training loop calls {@link #clipGradients} before and {@link #stepSparse} after {@code trainer.step()}. All state
 * is keyed by stable parameter names ({@link ParameterNames}) and exported by {@link #state()} for checkpoints.
 */
public class EngramOptimizer extends Optimizer {

    private final Tracker learningRate;
    private final float beta1;
    private final float beta2;
    private final float epsilon;
    private final float weightDecay;
    private final float tableLrMultiplier;
    private final Map<String, String> namesById = new HashMap<>();
    private final Map<String, Parameter> parametersByName = new LinkedHashMap<>();
    private final List<Map.Entry<String, MultiHeadEmbedding>> tables = new ArrayList<>();
    private final Map<String, NDArray> firstMoments = new HashMap<>();
    private final Map<String, NDArray> secondMoments = new HashMap<>();
    private final Map<String, Integer> updates = new HashMap<>();

    protected EngramOptimizer(Builder builder) {
        super(builder);
        learningRate = builder.learningRate;
        beta1 = builder.beta1;
        beta2 = builder.beta2;
        epsilon = builder.epsilon;
        weightDecay = builder.weightDecay;
        tableLrMultiplier = builder.tableLrMultiplier;
    }

    /** @return a builder */
    public static Builder builder() {
        return new Builder();
    }

    /**
     * Learns the model's parameter names and finds its Engram tables. Call once before training.
     *
     * @param model the model being trained
     */
    public void bind(Block model) {
        namesById.clear();
        parametersByName.clear();
        tables.clear();
        ParameterNames.of(model).forEach((name, parameter) -> {
            namesById.put(parameter.getId(), name);
            parametersByName.put(name, parameter);
        });
        collectTables(model, "", tables);
    }

    private static void collectTables(Block block, String prefix, List<Map.Entry<String, MultiHeadEmbedding>> out) {
        if (block instanceof MultiHeadEmbedding table) {
            out.add(Map.entry(prefix + "embedding", table));
            return;
        }
        block.getChildren().forEach(child -> collectTables(child.getValue(),
                prefix + child.getKey().replaceFirst("^\\d{2}", "") + ".", out));
    }

    private String nameOf(String parameterId) {
        String name = namesById.get(parameterId);
        if (name == null) {
            throw new IllegalStateException("parameter " + parameterId + " is unknown: call bind(model) first");
        }
        return name;
    }

    /** AdamW on one dense parameter, in place and outside autograd; zeroes its gradient as DJL's optimizers do. */
    @Override
    public void update(String parameterId, NDArray weight, NDArray grad) {
        String name = nameOf(parameterId);
        int step = updates.merge(name, 1, Integer::sum);
        float lr = learningRate.getNewValue(step);
        NDArray m = moment(firstMoments, name, weight);
        NDArray v = moment(secondMoments, name, weight);
        try (NDManager scope = weight.getManager().newSubManager()) {
            // Every temporary is moved into (or created from an array in) the scope, so nothing outlives the step.
            NDArray g = scoped(grad.mul(rescaleGrad), scope);
            m.muli(beta1).addi(g.mul(1 - beta1));
            v.muli(beta2).addi(g.square().mul(1 - beta2));
            NDArray direction = adamDirection(m, v, step, scope);
            if (weightDecay > 0) {
                weight.muli(1 - lr * weightDecay);
            }
            weight.subi(direction.mul(lr));
            NDArray realGrad = scoped(weight.getGradient(), scope);
            realGrad.subi(realGrad);
        }
    }

    private static NDArray scoped(NDArray array, NDManager scope) {
        array.attach(scope);
        return array;
    }

    /** m̂ / (sqrt(v̂) + eps) with bias correction for {@code step} updates; the result lives in {@code scope}. */
    private NDArray adamDirection(NDArray m, NDArray v, int step, NDManager scope) {
        NDArray mHat = scoped(m.div(1 - Math.pow(beta1, step)), scope);
        NDArray vHat = scoped(v.div(1 - Math.pow(beta2, step)), scope);
        return mHat.div(vHat.sqrt().add(epsilon));
    }

    private static NDArray moment(Map<String, NDArray> moments, String name, NDArray like) {
        return moments.computeIfAbsent(name, k -> {
            NDArray zeros = like.zerosLike();
            zeros.attach(like.getManager());
            return zeros;
        });
    }

    /**
     * Sets every dense gradient to zero (fill, so even a non-finite gradient is cleared). The training loop calls
     * it before each backward: PyTorch accumulates into {@code .grad}.
     */
    public void zeroGradients() {
        if (parametersByName.isEmpty()) {
            throw new IllegalStateException("call bind(model) first");
        }
        NDManager parent = parametersByName.values().iterator().next().getArray().getManager();
        try (NDManager scope = parent.newSubManager()) {
            for (Parameter p : parametersByName.values()) {
                if (p.requiresGradient() && p.getArray().hasGradient()) {
                    scoped(p.getArray().getGradient(), scope).set(new NDIndex("..."), 0);
                }
            }
        }
    }

    /**
     * Scales all gradients (dense and touched table rows) so their global L2 norm is at most {@code maxNorm}.
     *
     * @param maxNorm the bound; non-positive disables clipping
     * @return the norm before clipping
     */
    public double clipGradients(float maxNorm) {
        if (parametersByName.isEmpty()) {
            throw new IllegalStateException("call bind(model) first");
        }
        NDManager parent = parametersByName.values().iterator().next().getArray().getManager();
        try (NDManager scope = parent.newSubManager()) {
            List<NDArray> grads = new ArrayList<>();
            for (Parameter p : parametersByName.values()) {
                if (p.requiresGradient() && p.getArray().hasGradient()) {
                    grads.add(scoped(p.getArray().getGradient(), scope));
                }
            }
            for (Map.Entry<String, MultiHeadEmbedding> table : tables) {
                for (MultiHeadEmbedding.TouchedRows rows : table.getValue().peekTouchedRows()) {
                    grads.add(scoped(rows.values().getGradient(), scope));
                }
            }
            double squared = 0;
            for (NDArray g : grads) {
                squared += g.square().sum().toType(DataType.FLOAT64, false).getDouble();
            }
            double norm = Math.sqrt(squared);
            if (maxNorm > 0 && norm > maxNorm) {
                double scale = maxNorm / (norm + 1e-6);
                grads.forEach(g -> g.muli(scale));
            }
            return norm;
        }
    }

    /**
     * Row-sparse Adam on every Engram table: for the rows touched since the last step,
     * {@code m, v ← Adam moments of those rows}, {@code w[rows] -= lr·multiplier · m̂ / (sqrt(v̂) + eps)}; no weight
     * decay. Bias correction uses the table's own step count, like Adam's.
     */
    public void stepSparse() {
        for (Map.Entry<String, MultiHeadEmbedding> entry : tables) {
            String name = entry.getKey();
            List<MultiHeadEmbedding.TouchedRows> touchedRows = entry.getValue().drainTouchedRows();
            if (touchedRows.isEmpty()) {
                continue;
            }
            if (touchedRows.size() > 1) {
                throw new IllegalStateException(name + " was read by " + touchedRows.size()
                        + " training forwards since the last step; row-sparse updates need exactly one per step");
            }
            MultiHeadEmbedding.TouchedRows rows = touchedRows.get(0);
            NDArray table = entry.getValue().getTable().getArray();
            int step = updates.merge(name, 1, Integer::sum);
            float lr = learningRate.getNewValue(step) * tableLrMultiplier;
            NDArray m = moment(firstMoments, name, table);
            NDArray v = moment(secondMoments, name, table);
            NDIndex at = new NDIndex("{}", rows.rowIds());
            try (NDManager scope = table.getManager().newSubManager()) {
                NDArray g = scoped(rows.values().getGradient().mul(rescaleGrad), scope);
                NDArray mRows = scoped(m.get(at), scope).mul(beta1).add(g.mul(1 - beta1));
                NDArray vRows = scoped(v.get(at), scope).mul(beta2).add(g.square().mul(1 - beta2));
                NDArray direction = adamDirection(mRows, vRows, step, scope);
                NDArray updated = scoped(rows.values().stopGradient(), scope).sub(direction.mul(lr));
                m.set(at, mRows);
                v.set(at, vRows);
                table.set(at, updated);
            }
        }
    }

    /**
     * The optimizer's state for a checkpoint: {@code m/<name>}, {@code v/<name>} arrays and update counts.
     *
     * @return state arrays by key (owned by the optimizer; copy before closing anything)
     */
    public Map<String, NDArray> state() {
        Map<String, NDArray> out = new LinkedHashMap<>();
        firstMoments.forEach((name, m) -> out.put("m/" + name, m));
        secondMoments.forEach((name, v) -> out.put("v/" + name, v));
        return out;
    }

    /** @return update counts by parameter (or table) name */
    public Map<String, Integer> updateCounts() {
        return new LinkedHashMap<>(updates);
    }

    /**
     * Restores state written by {@link #state()} and {@link #updateCounts()}.
     *
     * @param arrays state arrays by key; copied into arrays on each parameter's device
     * @param counts update counts by name
     */
    public void restore(Map<String, NDArray> arrays, Map<String, Integer> counts) {
        firstMoments.values().forEach(NDArray::close);
        secondMoments.values().forEach(NDArray::close);
        firstMoments.clear();
        secondMoments.clear();
        updates.clear();
        updates.putAll(counts);
        Map<String, NDArray> tablesByName = new HashMap<>();
        tables.forEach(t -> tablesByName.put(t.getKey(), t.getValue().getTable().getArray()));
        for (Map.Entry<String, NDArray> e : arrays.entrySet()) {
            String key = e.getKey();
            String name = key.substring(2);
            Parameter parameter = parametersByName.get(name);
            NDArray like = parameter != null ? parameter.getArray() : tablesByName.get(name);
            if (like == null) {
                throw new IllegalArgumentException("optimizer state '" + key + "' names no parameter of this model");
            }
            if (!like.getShape().equals(e.getValue().getShape())) {
                throw new IllegalArgumentException("optimizer state '" + key + "' has shape " + e.getValue().getShape()
                        + ", parameter has " + like.getShape());
            }
            // A copy PyTorch owns: the caller's arrays may wrap Java buffers that are freed once it closes them.
            NDArray copy = OwnedArrays.copy(e.getValue(), like.getDataType(), like.getDevice(), like.getManager());
            (key.startsWith("m/") ? firstMoments : secondMoments).put(name, copy);
        }
    }

    /** Builds an {@link EngramOptimizer}. */
    public static final class Builder extends OptimizerBuilder<Builder> {
        private Tracker learningRate = Tracker.fixed(1e-3f);
        private float beta1 = 0.9f;
        private float beta2 = 0.95f;
        private float epsilon = 1e-8f;
        private float weightDecay = 0.1f;
        private float tableLrMultiplier = 5f;

        private Builder() {}

        @Override
        protected Builder self() {
            return this;
        }

        public Builder optLearningRate(Tracker tracker) {
            learningRate = tracker;
            return this;
        }

        public Builder optBetas(float b1, float b2) {
            beta1 = b1;
            beta2 = b2;
            return this;
        }

        public Builder optEpsilon(float eps) {
            epsilon = eps;
            return this;
        }

        /** @param decay decoupled weight decay of dense parameters (AdamW) @return this */
        public Builder optWeightDecay(float decay) {
            weightDecay = decay;
            return this;
        }

        /** @param multiplier table learning rate / base learning rate (paper: 5) @return this */
        public Builder optTableLrMultiplier(float multiplier) {
            tableLrMultiplier = multiplier;
            return this;
        }

        /** @return the optimizer */
        public EngramOptimizer build() {
            if (!(beta1 >= 0 && beta1 < 1 && beta2 >= 0 && beta2 < 1 && epsilon > 0 && weightDecay >= 0
                    && tableLrMultiplier > 0)) {
                throw new IllegalArgumentException("invalid optimizer settings: betas " + beta1 + ", " + beta2
                        + ", eps " + epsilon + ", weight decay " + weightDecay + ", table multiplier "
                        + tableLrMultiplier);
            }
            return new EngramOptimizer(this);
        }
    }
}
