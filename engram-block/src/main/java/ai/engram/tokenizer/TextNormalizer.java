package ai.engram.tokenizer;

import java.text.Normalizer;
import java.util.Locale;
import java.util.regex.Pattern;

/**
 * The normalisation that decides which tokenizer ids collapse into one canonical id (spec §1): NFKC → NFD →
 * strip combining marks → lowercase → collapse runs of {@code [ \t\r\n]} into one space → strip, except
 * that a text that is exactly one space stays one space.
 *
 * <p>Mirrors the HuggingFace {@code tokenizers} normalizer sequence the reference builds, so whitespace
 * and marks follow Rust's definitions (Unicode {@code White_Space}; General_Category Mark, i.e. Mn, Mc and
 * Me, as the {@code StripAccents} normalizer tests), not Java's.
 */
public final class TextNormalizer {

    private static final Pattern WHITESPACE_RUN = Pattern.compile("[ \\t\\r\\n]+");

    private TextNormalizer() {}

    /**
     * @param text a decoded token
     * @return its normalised key; may be empty
     */
    public static String normalize(String text) {
        String s = Normalizer.normalize(text, Normalizer.Form.NFKC);
        s = Normalizer.normalize(s, Normalizer.Form.NFD);
        s = stripCombiningMarks(s);
        s = s.toLowerCase(Locale.ROOT);
        s = WHITESPACE_RUN.matcher(s).replaceAll(" ");
        if (s.equals(" ")) {
            return s;
        }
        return strip(s);
    }

    private static String stripCombiningMarks(String s) {
        StringBuilder out = new StringBuilder(s.length());
        s.codePoints()
                .filter(cp -> !isCombiningMark(cp))
                .forEach(out::appendCodePoint);
        return out.toString();
    }

    private static boolean isCombiningMark(int codePoint) {
        int type = Character.getType(codePoint);
        return type == Character.NON_SPACING_MARK || type == Character.COMBINING_SPACING_MARK
                || type == Character.ENCLOSING_MARK;
    }

    /** Strips Unicode White_Space at both ends, as Rust's {@code str::trim} does. */
    private static String strip(String s) {
        int start = 0;
        int end = s.length();
        while (start < end && isUnicodeWhiteSpace(s.charAt(start))) {
            start++;
        }
        while (end > start && isUnicodeWhiteSpace(s.charAt(end - 1))) {
            end--;
        }
        return s.substring(start, end);
    }

    /** The Unicode White_Space property (all such code points are in the BMP). */
    static boolean isUnicodeWhiteSpace(char c) {
        return (c >= 0x09 && c <= 0x0D) || c == 0x20 || c == 0x85 || c == 0xA0 || c == 0x1680
                || (c >= 0x2000 && c <= 0x200A) || c == 0x2028 || c == 0x2029 || c == 0x202F || c == 0x205F
                || c == 0x3000;
    }
}
