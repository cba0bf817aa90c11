package ai.engram.model;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.index.NDIndex;
import ai.djl.ndarray.types.DataType;
import ai.djl.ndarray.types.Shape;
import ai.djl.nn.Parameter;
import ai.djl.training.initializer.ConstantInitializer;
import ai.djl.training.initializer.Initializer;
import ai.djl.training.initializer.NormalInitializer;
import ai.engram.io.HalfPrecision;
import ai.engram.io.SafetensorsWriter;

import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.channels.WritableByteChannel;

/**
 * The bytes of one checkpoint tensor, made while the file is written, a block of rows at a time, so that saving a
 * model of any size needs memory for one block, not for the model: either read from a parameter's array (one
 * routed expert of a stacked array, or the whole array), or drawn from the parameter's initializer without the model
 * ever being allocated ({@link #random}).
 */
abstract class ParameterBytes implements SafetensorsWriter.TensorBytes {

    /** Values per block: 32 MB of float32. */
    static final long BLOCK_VALUES = 8L << 20;

    private final Shape shape;
    private final boolean half;

    ParameterBytes(Shape shape, boolean half) {
        this.shape = shape;
        this.half = half;
    }

    /**
     * @param array a parameter's values
     * @param expert the expert to write of a stacked {@code [E, ...]} array, or -1 for all of it
     * @param half whether float32 values are written as fp16
     * @return its bytes, read block by block
     */
    static ParameterBytes of(NDArray array, int expert, boolean half) {
        Shape shape = expert < 0 ? array.getShape() : array.getShape().slice(1);
        int bytes = half ? 2 : array.getDataType().getNumOfBytes();
        return new ParameterBytes(shape, half) {
            @Override
            public long length() {
                return shape.size() * bytes;
            }

            @Override
            NDArray block(NDManager scope, long start, long end) {
                NDArray part = expert < 0 ? array.get(new NDIndex("{}:{}", start, end))
                        : array.get(new NDIndex("{}, {}:{}", expert, start, end));
                part.attach(scope);
                return part;
            }
        };
    }

    /**
     * Values drawn as the parameter's initializer draws them. Arrays are drawn whole on a CPU scratch manager,
     * except large ones whose initializer does not depend on the shape (normal, constant: the Engram tables), which
     * are drawn a block at a time; a stacked expert array is drawn once for all its experts ({@code stack}).
     *
     * @param parameter the parameter (shape and initializer set, no array needed)
     * @param expert the expert of a stacked parameter, or -1
     * @param stack holder of the last stacked array drawn, shared by a parameter's experts
     * @param scratch CPU manager for the draws
     * @param half whether to write fp16 (else float32)
     * @return the bytes
     */
    static ParameterBytes random(Parameter parameter, int expert, StackedDraw stack, NDManager scratch,
            boolean half) {
        Shape full = parameter.getShape();
        Shape shape = expert < 0 ? full : full.slice(1);
        Initializer init = parameter.getInitializer();
        boolean blockwise = expert < 0 && full.size() > BLOCK_VALUES
                && (init instanceof NormalInitializer || init instanceof ConstantInitializer);
        return new ParameterBytes(shape, half) {
            @Override
            public long length() {
                return shape.size() * (half ? 2 : 4);
            }

            @Override
            NDArray block(NDManager scope, long start, long end) {
                if (blockwise) {
                    Shape rows = new Shape(end - start).addAll(full.slice(1));
                    return init.initialize(scope, rows, DataType.FLOAT32);
                }
                NDArray all = expert < 0 ? init.initialize(scope, full, DataType.FLOAT32)
                        : stack.of(parameter, scratch);
                NDArray part = expert < 0 ? all.get(new NDIndex("{}:{}", start, end))
                        : all.get(new NDIndex("{}, {}:{}", expert, start, end));
                part.attach(scope);
                return part;
            }

            @Override
            long rowsPerBlock() {
                // Drawn whole anyway (expert < 0, not blockwise): one block.
                return blockwise ? super.rowsPerBlock() : Math.max(1, shape.dimension() == 0 ? 1 : shape.get(0));
            }
        };
    }

    /** The last stacked expert array drawn: each expert's entry takes its slice, the next parameter replaces it. */
    static final class StackedDraw {
        private Parameter parameter;
        private NDArray values;

        synchronized NDArray of(Parameter p, NDManager scratch) {
            if (parameter != p) {
                if (values != null) {
                    values.close();
                }
                values = p.getInitializer().initialize(scratch, p.getShape(), DataType.FLOAT32);
                parameter = p;
            }
            return values;
        }

        synchronized void release() {
            if (values != null) {
                values.close();
                values = null;
                parameter = null;
            }
        }
    }

    /** Rows [start, end) of the tensor, as an array owned by {@code scope}. */
    abstract NDArray block(NDManager scope, long start, long end);

    long rowsPerBlock() {
        long rowValues = shape.dimension() == 0 ? 1 : shape.size() / Math.max(1, shape.get(0));
        return Math.max(1, BLOCK_VALUES / Math.max(1, rowValues));
    }

    @Override
    public void writeTo(WritableByteChannel channel) throws IOException {
        long rows = shape.dimension() == 0 ? 1 : shape.get(0);
        long step = rowsPerBlock();
        for (long start = 0; start < rows; start += step) {
            long end = Math.min(rows, start + step);
            try (NDManager scope = NDManager.newBaseManager(ai.djl.Device.cpu())) {
                NDArray block = block(scope, start, end);
                ByteBuffer bytes;
                if (half && block.getDataType() == DataType.FLOAT32) {
                    float[] values = block.toFloatArray();
                    bytes = ByteBuffer.allocate(values.length * 2).order(ByteOrder.LITTLE_ENDIAN);
                    for (float v : values) {
                        bytes.putShort(HalfPrecision.floatToHalf(v));
                    }
                    bytes.flip();
                } else {
                    bytes = block.toByteBuffer().order(ByteOrder.LITTLE_ENDIAN);
                }
                while (bytes.hasRemaining()) {
                    channel.write(bytes);
                }
            }
        }
    }
}
