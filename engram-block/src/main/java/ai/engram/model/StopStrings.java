package ai.engram.model;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.types.DataType;
import ai.djl.ndarray.types.Shape;

import java.util.ArrayList;
import java.util.List;

/**
 * Stop strings of a batch's rows as one int32 array, for a predictor's NDList: each row's strings as Unicode code
 * points, each string followed by -1, the row padded with -2.
 */
public final class StopStrings {

    private static final int END = -1;
    private static final int PAD = -2;

    private StopStrings() {}

    /**
     * @param rows per row, its stop strings
     * @param manager where the array goes
     * @return {@code [B, W]} int32
     */
    public static NDArray encode(List<List<String>> rows, NDManager manager) {
        List<int[]> encoded = new ArrayList<>();
        int width = 1;
        for (List<String> row : rows) {
            List<Integer> points = new ArrayList<>();
            for (String s : row) {
                s.codePoints().forEach(points::add);
                points.add(END);
            }
            encoded.add(points.stream().mapToInt(Integer::intValue).toArray());
            width = Math.max(width, points.size());
        }
        int[] flat = new int[rows.size() * width];
        java.util.Arrays.fill(flat, PAD);
        for (int r = 0; r < rows.size(); r++) {
            System.arraycopy(encoded.get(r), 0, flat, r * width, encoded.get(r).length);
        }
        return manager.create(flat, new Shape(rows.size(), width));
    }

    /**
     * @param array what {@link #encode} wrote
     * @return per row, its stop strings
     * @throws IllegalArgumentException if the array is not such an encoding
     */
    static List<List<String>> decode(NDArray array) {
        if (array.getDataType() != DataType.INT32 || array.getShape().dimension() != 2) {
            throw new IllegalArgumentException("stop strings must be int32 [B, W], got " + array.getDataType() + " "
                    + array.getShape());
        }
        int rows = (int) array.getShape().get(0);
        int width = (int) array.getShape().get(1);
        int[] flat = array.toIntArray();
        List<List<String>> out = new ArrayList<>();
        for (int r = 0; r < rows; r++) {
            List<String> strings = new ArrayList<>();
            StringBuilder current = new StringBuilder();
            for (int i = r * width; i < (r + 1) * width && flat[i] != PAD; i++) {
                if (flat[i] == END) {
                    strings.add(current.toString());
                    current.setLength(0);
                } else if (Character.isValidCodePoint(flat[i])) {
                    current.appendCodePoint(flat[i]);
                } else {
                    throw new IllegalArgumentException("stop strings hold an invalid code point " + flat[i]);
                }
            }
            out.add(strings);
        }
        return out;
    }
}
