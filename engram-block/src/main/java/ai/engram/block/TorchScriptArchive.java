package ai.engram.block;

import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.charset.StandardCharsets;
import java.util.regex.Pattern;
import java.util.zip.CRC32;
import java.util.zip.ZipEntry;
import java.util.zip.ZipOutputStream;

/**
 * A TorchScript module archive — what {@code torch.jit.save} writes — for a module without parameters or buffers,
 * written from TorchScript source. DJL's PyTorch JNI binds a fixed set of operators (no fused attention, for one),
 * but it loads TorchScript; a module of a few lines makes any other PyTorch operator callable through DJL's own
 * {@code Model.load}, with no Python at build or run time.
 *
 * <p>The archive, under a folder named after the module: {@code version} (the file format, 3), {@code data.pkl}
 * (the module object — its class and {@code training = False} — in pickle protocol 2), {@code constants.pkl} (an
 * empty tuple: the code has no tensor constants) and {@code code/__torch__.py} (the class, in the form
 * {@code torch.jit.save} prints it). Entries are stored uncompressed, as PyTorch writes them.
 */
public final class TorchScriptArchive {

    private static final Pattern IDENTIFIER = Pattern.compile("[A-Za-z_][A-Za-z0-9_]*");

    private TorchScriptArchive() {}

    /**
     * @param className the module's class, {@code __torch__.<className>}
     * @param methods the class body's methods as TorchScript source, indented by two spaces, each taking
     *     {@code self: __torch__.<className>} first and fully annotated
     * @return the archive's bytes, for {@code Model.load(InputStream, Map)}
     */
    public static byte[] module(String className, String methods) {
        if (!IDENTIFIER.matcher(className).matches()) {
            throw new IllegalArgumentException("not a TorchScript class name: " + className);
        }
        String code = "class " + className + "(Module):\n"
                + "  __parameters__ = []\n"
                + "  __buffers__ = []\n"
                + "  training : bool\n"
                + methods;
        ByteArrayOutputStream bytes = new ByteArrayOutputStream();
        try (ZipOutputStream zip = new ZipOutputStream(bytes)) {
            String folder = className + "/";
            stored(zip, folder + "version", "3\n".getBytes(StandardCharsets.US_ASCII));
            stored(zip, folder + "data.pkl", moduleObject(className));
            stored(zip, folder + "constants.pkl", new byte[] {(byte) 0x80, 2, ')', '.'});
            stored(zip, folder + "code/__torch__.py", code.getBytes(StandardCharsets.UTF_8));
        } catch (IOException e) {
            throw new UncheckedIOException(e); // in memory: not expected
        }
        return bytes.toByteArray();
    }

    /**
     * The pickle of an instance of {@code __torch__.<className>} whose state is {@code {"training": False}}: PROTO 2,
     * GLOBAL, EMPTY_TUPLE, NEWOBJ, EMPTY_DICT, BINUNICODE "training", NEWFALSE, SETITEM, BUILD, STOP.
     */
    private static byte[] moduleObject(String className) {
        ByteArrayOutputStream p = new ByteArrayOutputStream();
        p.write(0x80);
        p.write(2);
        p.writeBytes(("c__torch__\n" + className + "\n").getBytes(StandardCharsets.US_ASCII));
        p.write(')');
        p.write(0x81);
        p.write('}');
        byte[] key = "training".getBytes(StandardCharsets.US_ASCII);
        p.write('X');
        p.writeBytes(new byte[] {(byte) key.length, 0, 0, 0});  // little-endian length
        p.writeBytes(key);
        p.write(0x89);
        p.write('s');
        p.write('b');
        p.write('.');
        return p.toByteArray();
    }

    private static void stored(ZipOutputStream zip, String name, byte[] content) throws IOException {
        ZipEntry entry = new ZipEntry(name);
        entry.setMethod(ZipEntry.STORED);
        entry.setSize(content.length);
        entry.setCompressedSize(content.length);
        CRC32 crc = new CRC32();
        crc.update(content);
        entry.setCrc(crc.getValue());
        zip.putNextEntry(entry);
        zip.write(content);
        zip.closeEntry();
    }
}
