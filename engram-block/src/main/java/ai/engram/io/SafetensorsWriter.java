package ai.engram.io;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.types.Shape;

import com.google.gson.JsonArray;
import com.google.gson.JsonObject;

import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.channels.FileChannel;
import java.nio.channels.WritableByteChannel;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.util.List;
import java.util.Map;

/**
 * Writes safetensors files atomically: data goes to a temporary file in the target's folder, is forced to
 * disk, and is renamed over the target only when complete, so a crash never leaves a half-written checkpoint.
 */
public final class SafetensorsWriter {

    /** The bytes of one tensor, produced once, in order, while the file is written (so they need not fit in RAM). */
    public interface TensorBytes {
        /** @return byte count */
        long length();

        /**
         * @param channel the file
         * @throws IOException if writing fails
         */
        void writeTo(WritableByteChannel channel) throws IOException;

        /**
         * @param data bytes from position to limit
         * @return them as tensor bytes
         */
        static TensorBytes of(ByteBuffer data) {
            return new TensorBytes() {
                @Override
                public long length() {
                    return data.remaining();
                }

                @Override
                public void writeTo(WritableByteChannel channel) throws IOException {
                    writeFully(channel, data.duplicate());
                }
            };
        }
    }

    /** One tensor to write: raw little-endian bytes of {@code dtype} elements. */
    public record Entry(String name, SafetensorsDataType dtype, Shape shape, TensorBytes bytes) {
        public Entry {
            long expected = Math.multiplyExact(shape.size(), dtype.byteSize());
            if (bytes.length() != expected) {
                throw new IllegalArgumentException("tensor '" + name + "' is " + dtype + " " + shape + " = " + expected
                        + " bytes, but " + bytes.length() + " bytes were given");
            }
        }

        /**
         * @param name tensor name
         * @param dtype element type
         * @param shape shape
         * @param data the bytes, from position to limit
         */
        public Entry(String name, SafetensorsDataType dtype, Shape shape, ByteBuffer data) {
            this(name, dtype, shape, TensorBytes.of(data));
        }

        /**
         * @param name tensor name
         * @param array the array; copied to the host
         * @return its entry in the array's own type
         */
        public static Entry of(String name, NDArray array) {
            SafetensorsDataType dtype = SafetensorsDataType.fromDjl(array.getDataType());
            return new Entry(name, dtype, array.getShape(), array.toByteBuffer().order(ByteOrder.LITTLE_ENDIAN));
        }
    }

    private SafetensorsWriter() {}

    /**
     * @param path target file; replaced atomically
     * @param tensors tensors in file order
     * @param metadata optional {@code __metadata__} strings (may be empty)
     * @throws IOException if writing fails; the target is then untouched
     */
    public static void write(Path path, List<Entry> tensors, Map<String, String> metadata) throws IOException {
        JsonObject header = new JsonObject();
        if (!metadata.isEmpty()) {
            JsonObject meta = new JsonObject();
            metadata.forEach(meta::addProperty);
            header.add("__metadata__", meta);
        }
        long offset = 0;
        java.util.Set<String> names = new java.util.HashSet<>();
        for (Entry entry : tensors) {
            if (names.contains(entry.name())) {
                throw new IllegalArgumentException("duplicate tensor name '" + entry.name() + "'");
            }
            names.add(entry.name());
            JsonObject info = new JsonObject();
            info.addProperty("dtype", entry.dtype().name());
            JsonArray shape = new JsonArray();
            for (long d : entry.shape().getShape()) {
                shape.add(d);
            }
            info.add("shape", shape);
            JsonArray offsets = new JsonArray();
            offsets.add(offset);
            offset += entry.bytes().length();
            offsets.add(offset);
            info.add("data_offsets", offsets);
            header.add(entry.name(), info);
        }
        byte[] json = header.toString().getBytes(StandardCharsets.UTF_8);
        int padded = (json.length + 7) / 8 * 8; // the format recommends 8-byte alignment of the data section
        ByteBuffer head = ByteBuffer.allocate(8 + padded).order(ByteOrder.LITTLE_ENDIAN);
        head.putLong(padded).put(json);
        while (head.hasRemaining()) {
            head.put((byte) ' ');
        }
        head.flip();

        Path temp = AtomicFiles.temporarySibling(path);
        try {
            try (FileChannel channel = FileChannel.open(temp, StandardOpenOption.WRITE,
                    StandardOpenOption.TRUNCATE_EXISTING)) {
                writeFully(channel, head);
                for (Entry entry : tensors) {
                    entry.bytes().writeTo(channel);
                }
                channel.force(true);
            }
            AtomicFiles.moveIntoPlace(temp, path);
        } finally {
            Files.deleteIfExists(temp);
        }
    }

    private static void writeFully(WritableByteChannel channel, ByteBuffer buffer) throws IOException {
        while (buffer.hasRemaining()) {
            channel.write(buffer);
        }
    }
}
