package ai.engram.block;

import java.util.Locale;

/**
 * How rotary frequencies are derived, under the names of Hugging Face's {@code rope_parameters} /
 * {@code rope_scaling}: {@code default} (plain {@code theta^(-2i/dim)}) or {@code yarn} (DeepSeek-V3's
 * long-context scaling: frequencies blended between interpolation and extrapolation by a linear ramp over the
 * correction range, cos/sin multiplied by an attention factor, and the softmax scale by {@code mscale(factor,
 * mscale_all_dim)²}).
 *
 * @param type {@code default} or {@code yarn}
 * @param theta the base
 * @param factor the context extension factor (yarn)
 * @param originalMaxPositions the pre-extension context (yarn)
 * @param betaFast the ramp's fast boundary, in rotations (yarn; 32 by default)
 * @param betaSlow the ramp's slow boundary (yarn; 1 by default)
 * @param mscale yarn's mscale (0 when absent)
 * @param mscaleAllDim yarn's mscale_all_dim (0 when absent)
 * @param attentionFactor an explicit cos/sin factor, or NaN to derive it
 * @param truncate whether the correction range is rounded outward to whole dimensions (default true)
 */
public record RopeScaling(String type, double theta, double factor, double originalMaxPositions, double betaFast,
        double betaSlow, double mscale, double mscaleAllDim, double attentionFactor, boolean truncate) {

    public RopeScaling {
        type = type.toLowerCase(Locale.ROOT);
        if (!type.equals("default") && !type.equals("yarn")) {
            throw new IllegalArgumentException("rope type '" + type + "' is not supported (default, yarn)");
        }
        if (!(theta > 0)) {
            throw new IllegalArgumentException("rope_theta must be > 0, got " + theta);
        }
        if (type.equals("yarn") && !(factor > 0 && originalMaxPositions > 0)) {
            throw new IllegalArgumentException("yarn needs factor > 0 and original_max_position_embeddings > 0, got "
                    + factor + ", " + originalMaxPositions);
        }
    }

    /**
     * @param theta the base
     * @return plain rotary frequencies
     */
    public static RopeScaling plain(double theta) {
        return new RopeScaling("default", theta, 1, 0, 32, 1, 0, 0, Double.NaN, true);
    }

    /** @return whether this is yarn */
    public boolean isYarn() {
        return type.equals("yarn");
    }

    /** yarn's {@code 0.1 · m · ln(s) + 1}, 1 for {@code s ≤ 1}. */
    static double yarnMscale(double scale, double m) {
        return scale <= 1 ? 1.0 : 0.1 * m * Math.log(scale) + 1.0;
    }

    /** @return the factor cos and sin are multiplied by (1 without yarn) */
    public double cosSinFactor() {
        if (!isYarn()) {
            return 1.0;
        }
        if (!Double.isNaN(attentionFactor)) {
            return attentionFactor;
        }
        if (mscale != 0 && mscaleAllDim != 0) {
            return yarnMscale(factor, mscale) / yarnMscale(factor, mscaleAllDim);
        }
        return yarnMscale(factor, 1);
    }

    /** @return the factor the softmax scale {@code 1/sqrt(qk_head_dim)} is multiplied by (DeepSeek-V3's mscale²) */
    public double softmaxScaleFactor() {
        if (!isYarn() || mscaleAllDim == 0) {
            return 1.0;
        }
        double m = yarnMscale(factor, mscaleAllDim);
        return m * m;
    }

    /** The yarn correction range {@code [low, high]} in dimensions, as transformers computes it (in doubles). */
    double[] correctionRange(int dim) {
        double low = correctionDim(betaFast, dim);
        double high = correctionDim(betaSlow, dim);
        if (truncate) {
            low = Math.floor(low);
            high = Math.ceil(high);
        }
        return new double[] {Math.max(low, 0), Math.min(high, dim - 1)};
    }

    private double correctionDim(double rotations, int dim) {
        return dim * Math.log(originalMaxPositions / (rotations * 2 * Math.PI)) / (2 * Math.log(theta));
    }
}
