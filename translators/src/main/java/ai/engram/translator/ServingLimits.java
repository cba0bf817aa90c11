package ai.engram.translator;

/**
 * What one request may ask of a served model, checked before anything is allocated for it. Set in
 * serving.properties (or as Criteria arguments): {@code maxRequestChars}, {@code maxInputsPerRequest},
 * {@code maxNewTokensLimit}, {@code maxStopStrings}.
 *
 * @param maxRequestChars characters of a request body
 * @param maxInputs prompts in one request's {@code inputs} list
 * @param maxNewTokens {@code max_new_tokens} of a request (prompt + new tokens must also fit the model's positions)
 * @param maxStopStrings stop strings of a request
 */
public record ServingLimits(int maxRequestChars, int maxInputs, int maxNewTokens, int maxStopStrings) {

    /** 1 M characters, 64 prompts, any max_new_tokens the model's positions allow, 16 stop strings. */
    public static final ServingLimits DEFAULT = new ServingLimits(1_000_000, 64, Integer.MAX_VALUE, 16);

    public ServingLimits {
        if (maxRequestChars < 1 || maxInputs < 1 || maxNewTokens < 1 || maxStopStrings < 0) {
            throw new IllegalArgumentException("serving limits must be positive: maxRequestChars " + maxRequestChars
                    + ", maxInputsPerRequest " + maxInputs + ", maxNewTokensLimit " + maxNewTokens + ", maxStopStrings "
                    + maxStopStrings);
        }
    }

    /**
     * @param options the model's options
     * @return the limits they set, defaults for the rest
     */
    public static ServingLimits from(ModelOptions options) {
        return new ServingLimits(options.integer("maxRequestChars", DEFAULT.maxRequestChars),
                options.integer("maxInputsPerRequest", DEFAULT.maxInputs),
                options.integer("maxNewTokensLimit", DEFAULT.maxNewTokens),
                options.integer("maxStopStrings", DEFAULT.maxStopStrings));
    }
}
