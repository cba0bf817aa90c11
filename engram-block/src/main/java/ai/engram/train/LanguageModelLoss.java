package ai.engram.train;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDList;
import ai.djl.training.loss.Loss;

/**
 * Next-token cross-entropy: mean over all positions of {@code -log softmax(logits)[target]}.
 * Labels {@code [B, T]} (int64), predictions {@code [B, T, vocab]}.
 */
public class LanguageModelLoss extends Loss {

    /** Creates the loss under the name "lm_loss". */
    public LanguageModelLoss() {
        super("lm_loss");
    }

    @Override
    public NDArray evaluate(NDList labels, NDList predictions) {
        NDArray logits = predictions.singletonOrThrow();
        NDArray targets = labels.singletonOrThrow();
        long vocab = logits.getShape().tail();
        if (!logits.getShape().slice(0, logits.getShape().dimension() - 1).equals(targets.getShape())) {
            throw new IllegalArgumentException("labels " + targets.getShape() + " do not match logits "
                    + logits.getShape());
        }
        NDArray logProbs = logits.logSoftmax(-1).reshape(-1, vocab);
        NDArray picked = logProbs.gather(targets.reshape(-1, 1), 1);
        return picked.mean().neg();
    }
}
