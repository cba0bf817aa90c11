package ai.engram.block;

import ai.djl.Device;
import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.types.DataType;
import ai.djl.ndarray.types.Shape;
import ai.djl.training.ParameterStore;
import ai.engram.model.NoGradientScope;

import org.testng.Assert;
import org.testng.annotations.Test;

/**
 * A read after {@link MultiHeadEmbedding#readAhead} gives the rows of its own hash ids, whether the ids read ahead
 * were the same or others; on a GPU the row numbers are uploaded ahead and taken by the read of the same ids (on a
 * CPU nothing is uploaded: the copy there waits for nothing).
 */
public class MultiHeadEmbeddingReadAheadTest {

    private static final long[] HEAD_SIZES = {7, 11, 13};
    private static final int HEAD_DIM = 4;

    @Test
    public void readsGiveTheirOwnRowsWithOrWithoutReadAhead() {
        // validated ids, and not (as a model's decoder layers build it: its hasher's ids are in range)
        for (boolean validate : new boolean[] {true, false}) {
            readsGiveTheirOwnRows(validate);
        }
    }

    private static void readsGiveTheirOwnRows(boolean validate) {
        try (NDManager manager = NDManager.newBaseManager();
                NoGradientScope noGradient = NoGradientScope.open(manager.getEngine())) {
            MultiHeadEmbedding embedding = MultiHeadEmbedding.builder().setHeadSizes(HEAD_SIZES).setHeadDim(HEAD_DIM)
                    .optValidateIds(validate).build();
            Shape shape = new Shape(2, 3, HEAD_SIZES.length);
            embedding.initialize(manager, DataType.FLOAT32, shape);
            float[] table = embedding.getParameters().get("weight").getArray().toFloatArray();
            boolean uploads = manager.getDevice().isGpu();
            int[] a = {0, 10, 12, 6, 0, 1, 3, 4, 5, 1, 2, 3, 6, 10, 0, 2, 9, 11};
            int[] b = {1, 1, 1, 2, 2, 2, 3, 3, 3, 4, 4, 4, 5, 5, 5, 6, 6, 6};
            ParameterStore ps = new ParameterStore(manager, false);

            embedding.readAhead(a);
            Assert.assertEquals(embedding.hasUploadAhead(), uploads, "an upload ahead exactly on a GPU");
            assertRows(read(embedding, ps, manager, a, shape), a, table);
            Assert.assertFalse(embedding.hasUploadAhead(), "the read took (or dropped) the upload");

            embedding.readAhead(b); // other ids ahead: the read of a must not take b's rows
            assertRows(read(embedding, ps, manager, a, shape), a, table);
            Assert.assertFalse(embedding.hasUploadAhead());

            embedding.readAhead(a);
            embedding.readAhead(b); // the later upload replaces the earlier
            assertRows(read(embedding, ps, manager, b, shape), b, table);
            assertRows(read(embedding, ps, manager, a, shape), a, table);
        }
    }

    @Test
    public void aReadAheadOfABadIdLeavesTheErrorToTheRead() {
        try (NDManager manager = NDManager.newBaseManager();
                NoGradientScope noGradient = NoGradientScope.open(manager.getEngine())) {
            MultiHeadEmbedding embedding = MultiHeadEmbedding.builder().setHeadSizes(HEAD_SIZES).setHeadDim(HEAD_DIM)
                    .build();
            Shape shape = new Shape(1, 1, HEAD_SIZES.length);
            embedding.initialize(manager, DataType.FLOAT32, shape);
            int[] bad = {0, 11, 0}; // head 1 has 11 rows
            embedding.readAhead(bad);
            Assert.assertFalse(embedding.hasUploadAhead());
            IllegalArgumentException e = Assert.expectThrows(IllegalArgumentException.class,
                    () -> read(embedding, new ParameterStore(manager, false), manager, bad, shape));
            Assert.assertTrue(e.getMessage().contains("hash id 11 of head 1"), e.getMessage());
        }
    }

    private static NDArray read(MultiHeadEmbedding embedding, ParameterStore ps, NDManager manager, int[] ids,
            Shape shape) {
        NDArray hashIds = NDManager.newBaseManager(Device.cpu()).create(ids, shape);
        try {
            return embedding.read(ps, hashIds, manager, DataType.FLOAT32, false);
        } finally {
            hashIds.getManager().close();
        }
    }

    private static void assertRows(NDArray rows, int[] ids, float[] table) {
        float[] got = rows.toFloatArray();
        Assert.assertEquals(got.length, ids.length * HEAD_DIM);
        for (int j = 0; j < ids.length; j++) {
            long row = ids[j] + offset(j % HEAD_SIZES.length);
            for (int c = 0; c < HEAD_DIM; c++) {
                Assert.assertEquals(got[j * HEAD_DIM + c], table[(int) (row * HEAD_DIM + c)], 0f,
                        "id " + j + " column " + c);
            }
        }
    }

    private static long offset(int head) {
        long total = 0;
        for (int h = 0; h < head; h++) {
            total += HEAD_SIZES[h];
        }
        return total;
    }
}
