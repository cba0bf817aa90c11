package ai.engram.io;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.types.DataType;
import ai.djl.ndarray.types.Shape;

import com.google.gson.JsonArray;
import com.google.gson.JsonElement;
import com.google.gson.JsonObject;
import com.google.gson.JsonParseException;
import com.google.gson.JsonParser;

import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.MappedByteBuffer;
import java.nio.channels.FileChannel;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.util.ArrayList;
import java.util.Collections;
import java.util.Comparator;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;

/**
 * A read-only, memory-mapped safetensors file of any size. The header is validated completely on open
 * (length bounds, dtype × shape = byte length, offsets inside the file, no overlapping tensors), so a
 * corrupt or truncated file fails with a message naming the file and the tensor before any data is used.
 *
 * <p>Tensor data is mapped lazily; a tensor above 2 GB can still be read in slices with {@link #slice}.
 */
public final class SafetensorsFile implements TensorSource, AutoCloseable {

    /** Headers are JSON; anything this large is corruption, not a header. */
    private static final long MAX_HEADER_BYTES = 100L << 20;

    /** One tensor's header entry. */
    public record TensorInfo(String name, SafetensorsDataType dtype, Shape shape, long begin, long end) {
        /** @return data length in bytes */
        public long byteLength() {
            return end - begin;
        }
    }

    private final Path path;
    private final FileChannel channel;
    private final long dataStart;
    private final Map<String, TensorInfo> tensors;
    private final Map<String, String> metadata;

    private SafetensorsFile(Path path, FileChannel channel, long dataStart, Map<String, TensorInfo> tensors,
            Map<String, String> metadata) {
        this.path = path;
        this.channel = channel;
        this.dataStart = dataStart;
        this.tensors = tensors;
        this.metadata = metadata;
    }

    /**
     * Opens and validates a file.
     *
     * @param path the file
     * @return the open file; close it to release the channel
     * @throws IOException if it cannot be read
     * @throws IllegalArgumentException if the header is invalid
     */
    public static SafetensorsFile open(Path path) throws IOException {
        FileChannel channel = FileChannel.open(path, StandardOpenOption.READ);
        try {
            long fileSize = channel.size();
            if (fileSize < 8) {
                throw invalid(path, "file is " + fileSize + " bytes, shorter than the 8-byte header length");
            }
            ByteBuffer lengthBytes = ByteBuffer.allocate(8).order(ByteOrder.LITTLE_ENDIAN);
            readFully(channel, lengthBytes, 0);
            long headerLength = lengthBytes.flip().getLong();
            if (headerLength < 2 || headerLength > MAX_HEADER_BYTES || headerLength > fileSize - 8) {
                throw invalid(path, "header length " + headerLength + " is outside [2, min(100 MB, file size "
                        + fileSize + " - 8)]");
            }
            ByteBuffer headerBytes = ByteBuffer.allocate((int) headerLength);
            readFully(channel, headerBytes, 8);
            String header = new String(headerBytes.array(), StandardCharsets.UTF_8);
            long dataStart = 8 + headerLength;
            Map<String, String> metadata = new LinkedHashMap<>();
            Map<String, TensorInfo> tensors = parseHeader(path, header, fileSize - dataStart, metadata);
            return new SafetensorsFile(path, channel, dataStart, tensors, metadata);
        } catch (IOException | RuntimeException e) {
            channel.close();
            throw e;
        }
    }

    private static void readFully(FileChannel channel, ByteBuffer buffer, long position) throws IOException {
        while (buffer.hasRemaining()) {
            int n = channel.read(buffer, position + buffer.position());
            if (n < 0) {
                throw new IOException("unexpected end of file");
            }
        }
    }

    private static Map<String, TensorInfo> parseHeader(Path path, String header, long dataSize,
            Map<String, String> metadata) {
        JsonObject root;
        try {
            JsonElement parsed = JsonParser.parseString(header);
            if (!parsed.isJsonObject()) {
                throw invalid(path, "header is not a JSON object");
            }
            root = parsed.getAsJsonObject();
        } catch (JsonParseException e) {
            throw invalid(path, "header is not valid JSON: " + e.getMessage());
        }
        Map<String, TensorInfo> tensors = new LinkedHashMap<>();
        for (Map.Entry<String, JsonElement> entry : root.entrySet()) {
            String name = entry.getKey();
            if (name.equals("__metadata__")) {
                if (entry.getValue().isJsonObject()) {
                    entry.getValue().getAsJsonObject().entrySet().forEach(
                            m -> metadata.put(m.getKey(), m.getValue().getAsString()));
                }
                continue;
            }
            tensors.put(name, parseTensor(path, name, entry.getValue(), dataSize));
        }
        List<TensorInfo> byOffset = new ArrayList<>(tensors.values());
        byOffset.sort(Comparator.comparingLong(TensorInfo::begin).thenComparingLong(TensorInfo::end));
        for (int i = 1; i < byOffset.size(); i++) {
            TensorInfo previous = byOffset.get(i - 1);
            TensorInfo current = byOffset.get(i);
            if (current.begin() < previous.end()) {
                throw invalid(path, "tensor '" + current.name() + "' [" + current.begin() + ", " + current.end()
                        + ") overlaps tensor '" + previous.name() + "' [" + previous.begin() + ", "
                        + previous.end() + ")");
            }
        }
        return Collections.unmodifiableMap(tensors);
    }

    private static TensorInfo parseTensor(Path path, String name, JsonElement element, long dataSize) {
        try {
            JsonObject tensor = element.getAsJsonObject();
            SafetensorsDataType dtype = SafetensorsDataType.fromTag(tensor.get("dtype").getAsString());
            JsonArray shapeJson = tensor.getAsJsonArray("shape");
            long[] dims = new long[shapeJson.size()];
            long elements = 1;
            for (int i = 0; i < dims.length; i++) {
                dims[i] = shapeJson.get(i).getAsLong();
                if (dims[i] < 0) {
                    throw invalid(path, "tensor '" + name + "' has negative dimension " + dims[i]);
                }
                elements = Math.multiplyExact(elements, dims[i]);
            }
            JsonArray offsets = tensor.getAsJsonArray("data_offsets");
            if (offsets == null || offsets.size() != 2) {
                throw invalid(path, "tensor '" + name + "' needs data_offsets [begin, end]");
            }
            long begin = offsets.get(0).getAsLong();
            long end = offsets.get(1).getAsLong();
            if (begin < 0 || end < begin || end > dataSize) {
                throw invalid(path, "tensor '" + name + "' data_offsets [" + begin + ", " + end
                        + "] lie outside the data section of " + dataSize + " bytes (truncated file?)");
            }
            long expected = Math.multiplyExact(elements, dtype.byteSize());
            if (end - begin != expected) {
                throw invalid(path, "tensor '" + name + "' is " + dtype + " " + new Shape(dims) + " = " + expected
                        + " bytes, but its data_offsets span " + (end - begin) + " bytes");
            }
            return new TensorInfo(name, dtype, new Shape(dims), begin, end);
        } catch (IllegalArgumentException e) {
            if (e.getMessage() != null && e.getMessage().startsWith(path.toString())) {
                throw e;
            }
            throw invalid(path, "tensor '" + name + "': " + e.getMessage());
        } catch (IllegalStateException | NullPointerException | UnsupportedOperationException
                | ArithmeticException e) {
            throw invalid(path, "tensor '" + name + "' has a malformed header entry: " + element);
        }
    }

    private static IllegalArgumentException invalid(Path path, String message) {
        return new IllegalArgumentException(path + ": " + message);
    }

    /** @return the file */
    public Path path() {
        return path;
    }

    /** @return the {@code __metadata__} entries */
    public Map<String, String> metadata() {
        return Collections.unmodifiableMap(metadata);
    }

    /** @return header entries in file order */
    public Map<String, TensorInfo> tensors() {
        return tensors;
    }

    @Override
    public Set<String> names() {
        return tensors.keySet();
    }

    @Override
    public Shape shape(String name) {
        return info(name).shape();
    }

    /**
     * @param name tensor name
     * @return its header entry
     * @throws IllegalArgumentException if absent
     */
    public TensorInfo info(String name) {
        TensorInfo info = tensors.get(name);
        if (info == null) {
            throw new IllegalArgumentException(path + " has no tensor '" + name + "'");
        }
        return info;
    }

    /**
     * Maps part of a tensor's bytes read-only, little-endian.
     *
     * @param name tensor name
     * @param offset byte offset inside the tensor
     * @param length byte count, at most {@code Integer.MAX_VALUE}
     * @return the mapped bytes
     * @throws IOException if mapping fails
     */
    public MappedByteBuffer slice(String name, long offset, long length) throws IOException {
        TensorInfo info = info(name);
        if (offset < 0 || length < 0 || length > Integer.MAX_VALUE || offset + length > info.byteLength()) {
            throw new IllegalArgumentException("slice [" + offset + ", " + (offset + length) + ") of tensor '" + name
                    + "' (" + info.byteLength() + " bytes) in " + path + " is out of range or over 2 GB");
        }
        MappedByteBuffer buffer = channel.map(FileChannel.MapMode.READ_ONLY, dataStart + info.begin() + offset, length);
        buffer.order(ByteOrder.LITTLE_ENDIAN);
        return buffer;
    }

    @Override
    public NDArray load(String name, NDManager manager, DataType type) {
        TensorInfo info = info(name);
        ByteBuffer source;
        try {
            source = slice(name, 0, info.byteLength());
        } catch (IOException e) {
            throw new IllegalArgumentException("cannot map tensor '" + name + "' of " + path + ": " + e.getMessage(), e);
        }
        ByteBuffer data = TensorConversion.convert(source, info.dtype(), type, info.shape().size(),
                () -> "tensor '" + name + "' of " + path);
        return manager.create(data, info.shape(), type);
    }

    @Override
    public void close() throws IOException {
        channel.close();
    }
}
