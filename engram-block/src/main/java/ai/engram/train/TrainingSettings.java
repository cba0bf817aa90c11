package ai.engram.train;

import java.util.Objects;

/**
 * Hyper-parameters of a training run: {@code TrainingSettings.builder().setBatchSize(8).setSeqLen(64)
 * .setLearningRate(3e-3f).build()}, the paper's defaults for everything else.
 */
public final class TrainingSettings {

    private final int batchSize;
    private final int seqLen;
    private final float learningRate;
    private final int warmupSteps;
    private final float weightDecay;
    private final float tableLrMultiplier;
    private final float clipNorm;
    private final float biasUpdateSpeed;
    private final long seed;

    private TrainingSettings(Builder b) {
        batchSize = b.batchSize;
        seqLen = b.seqLen;
        learningRate = b.learningRate;
        warmupSteps = b.warmupSteps;
        weightDecay = b.weightDecay;
        tableLrMultiplier = b.tableLrMultiplier;
        clipNorm = b.clipNorm;
        biasUpdateSpeed = b.biasUpdateSpeed;
        seed = b.seed;
    }

    /** @return a builder */
    public static Builder builder() {
        return new Builder();
    }

    /**
     * @param batchSize sequences per step
     * @param seqLen tokens per sequence
     * @param learningRate peak learning rate
     * @return settings with the paper's defaults for everything else
     */
    public static TrainingSettings of(int batchSize, int seqLen, float learningRate) {
        return builder().setBatchSize(batchSize).setSeqLen(seqLen).setLearningRate(learningRate).build();
    }

    /** @return sequences per step */
    public int batchSize() {
        return batchSize;
    }

    /** @return tokens per sequence */
    public int seqLen() {
        return seqLen;
    }

    /** @return the backbone's peak learning rate (tables get {@link #tableLrMultiplier()} ×) */
    public float learningRate() {
        return learningRate;
    }

    /** @return linear warm-up steps */
    public int warmupSteps() {
        return warmupSteps;
    }

    /** @return AdamW decay of dense parameters */
    public float weightDecay() {
        return weightDecay;
    }

    /** @return the tables' learning-rate multiplier (paper: 5) */
    public float tableLrMultiplier() {
        return tableLrMultiplier;
    }

    /** @return the global gradient-norm bound; 0 disables clipping */
    public float clipNorm() {
        return clipNorm;
    }

    /** @return the MoE loss-free balancing speed; 0 disables it */
    public float biasUpdateSpeed() {
        return biasUpdateSpeed;
    }

    /** @return the data-sampling seed */
    public long seed() {
        return seed;
    }

    @Override
    public boolean equals(Object o) {
        return o instanceof TrainingSettings s && batchSize == s.batchSize && seqLen == s.seqLen
                && learningRate == s.learningRate && warmupSteps == s.warmupSteps && weightDecay == s.weightDecay
                && tableLrMultiplier == s.tableLrMultiplier && clipNorm == s.clipNorm
                && biasUpdateSpeed == s.biasUpdateSpeed && seed == s.seed;
    }

    @Override
    public int hashCode() {
        return Objects.hash(batchSize, seqLen, learningRate, warmupSteps, weightDecay, tableLrMultiplier, clipNorm,
                biasUpdateSpeed, seed);
    }

    @Override
    public String toString() {
        return "TrainingSettings[batchSize=" + batchSize + ", seqLen=" + seqLen + ", learningRate=" + learningRate
                + ", warmupSteps=" + warmupSteps + ", weightDecay=" + weightDecay + ", tableLrMultiplier="
                + tableLrMultiplier + ", clipNorm=" + clipNorm + ", biasUpdateSpeed=" + biasUpdateSpeed + ", seed="
                + seed + "]";
    }

    /** Builds {@link TrainingSettings}. */
    public static final class Builder {
        private int batchSize;
        private int seqLen;
        private float learningRate;
        private int warmupSteps;
        private float weightDecay = 0.1f;
        private float tableLrMultiplier = 5f;
        private float clipNorm = 1.0f;
        private float biasUpdateSpeed = 0.001f;
        private long seed;

        private Builder() {}

        /**
         * @param n sequences per step, ≥ 1
         * @return this
         */
        public Builder setBatchSize(int n) {
            this.batchSize = n;
            return this;
        }

        /**
         * @param n tokens per sequence, ≥ 1
         * @return this
         */
        public Builder setSeqLen(int n) {
            this.seqLen = n;
            return this;
        }

        /**
         * @param rate the backbone's peak learning rate, > 0
         * @return this
         */
        public Builder setLearningRate(float rate) {
            this.learningRate = rate;
            return this;
        }

        /**
         * @param steps linear warm-up steps (default 0)
         * @return this
         */
        public Builder optWarmupSteps(int steps) {
            this.warmupSteps = steps;
            return this;
        }

        /**
         * @param decay AdamW decay of dense parameters (default 0.1)
         * @return this
         */
        public Builder optWeightDecay(float decay) {
            this.weightDecay = decay;
            return this;
        }

        /**
         * @param multiplier the tables' learning-rate multiplier (default 5, the paper's)
         * @return this
         */
        public Builder optTableLrMultiplier(float multiplier) {
            this.tableLrMultiplier = multiplier;
            return this;
        }

        /**
         * @param norm the global gradient-norm bound; 0 disables clipping (default 1)
         * @return this
         */
        public Builder optClipNorm(float norm) {
            this.clipNorm = norm;
            return this;
        }

        /**
         * @param speed the MoE loss-free balancing speed; 0 disables it (default 0.001)
         * @return this
         */
        public Builder optBiasUpdateSpeed(float speed) {
            this.biasUpdateSpeed = speed;
            return this;
        }

        /**
         * @param seed the data-sampling seed (default 0)
         * @return this
         */
        public Builder optSeed(long seed) {
            this.seed = seed;
            return this;
        }

        /** @return the settings */
        public TrainingSettings build() {
            if (batchSize < 1 || seqLen < 1 || !(learningRate > 0) || warmupSteps < 0 || weightDecay < 0
                    || !(tableLrMultiplier > 0) || clipNorm < 0 || biasUpdateSpeed < 0) {
                throw new IllegalArgumentException("invalid training settings: batch " + batchSize + ", seq_len "
                        + seqLen + ", lr " + learningRate + ", warm-up " + warmupSteps + ", weight decay "
                        + weightDecay + ", table lr x" + tableLrMultiplier + ", clip " + clipNorm + ", bias speed "
                        + biasUpdateSpeed);
            }
            return new TrainingSettings(this);
        }
    }
}
