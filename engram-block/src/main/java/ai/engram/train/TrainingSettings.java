package ai.engram.train;

/**
 * Hyper-parameters of a training run.
 *
 * @param batchSize sequences per step
 * @param seqLen tokens per sequence
 * @param learningRate peak learning rate of the backbone (tables get {@code tableLrMultiplier} ×)
 * @param warmupSteps linear warm-up steps
 * @param weightDecay AdamW decay of dense parameters
 * @param tableLrMultiplier table learning-rate multiplier (paper: 5)
 * @param clipNorm global gradient-norm bound; 0 disables clipping
 * @param biasUpdateSpeed MoE loss-free balancing speed; 0 disables it
 * @param seed data-sampling seed
 */
public record TrainingSettings(int batchSize, int seqLen, float learningRate, int warmupSteps, float weightDecay,
        float tableLrMultiplier, float clipNorm, float biasUpdateSpeed, long seed) {

    public TrainingSettings {
        if (batchSize < 1 || seqLen < 1 || !(learningRate > 0) || warmupSteps < 0 || weightDecay < 0
                || !(tableLrMultiplier > 0) || clipNorm < 0 || biasUpdateSpeed < 0) {
            throw new IllegalArgumentException("invalid training settings: " + this);
        }
    }

    /**
     * @param batchSize sequences per step
     * @param seqLen tokens per sequence
     * @param learningRate peak learning rate
     * @return settings with the paper's defaults for everything else
     */
    public static TrainingSettings of(int batchSize, int seqLen, float learningRate) {
        return new TrainingSettings(batchSize, seqLen, learningRate, 0, 0.1f, 5f, 1.0f, 0.001f, 0);
    }
}
