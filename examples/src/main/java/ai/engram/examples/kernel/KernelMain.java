package ai.engram.examples.kernel;

import org.dflib.jjava.jupyter.channels.JupyterConnection;
import org.dflib.jjava.jupyter.kernel.JupyterIO;
import org.dflib.jjava.jupyter.kernel.KernelConnectionProperties;
import org.dflib.jjava.jupyter.kernel.magic.MagicsRegistry;

import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;

/**
 * Starts the kernel for a Jupyter connection file, or ({@code --install DIR}) writes the kernel spec
 * {@code DIR/engram-java/kernel.json} that makes Jupyter start it with this JVM and this jar.
 */
public final class KernelMain {

    private KernelMain() {}

    /**
     * @param args {@code CONNECTION_FILE} or {@code --install KERNELS_DIR}
     * @throws Exception if the kernel cannot start
     */
    public static void main(String[] args) throws Exception {
        if (args.length == 2 && "--install".equals(args[0])) {
            install(Path.of(args[1]));
            return;
        }
        if (args.length != 1) {
            System.err.println("usage: KernelMain CONNECTION_FILE | --install KERNELS_DIR");
            System.exit(2);
        }
        KernelConnectionProperties properties =
                KernelConnectionProperties.parse(Files.readString(Path.of(args[0]), StandardCharsets.UTF_8));
        MagicsRegistry magics = new MagicsRegistry();
        magics.registerLineMagic("classpath", new ClasspathMagic());
        magics.registerLineMagic("jars", new ClasspathMagic()); // IJava's older name
        magics.registerLineMagic("maven", new MavenMagic());
        EngramKernel kernel = EngramKernel.create(magics, new JupyterIO(StandardCharsets.UTF_8));
        JupyterConnection connection = new JupyterConnection(properties);
        kernel.becomeHandlerForConnection(connection);
        connection.connect();
        connection.waitUntilClose();
    }

    private static void install(Path kernels) throws Exception {
        Path dir = Files.createDirectories(kernels.resolve("engram-java"));
        String java = ProcessHandle.current().info().command().orElse("java");
        String spec = "{\n  \"argv\": [" + quote(java) + ", \"-Xmx8g\", \"-Dai.djl.offline=true\", "
                + "\"-Dorg.slf4j.simpleLogger.defaultLogLevel=warn\", \"-cp\", " + quote(EngramKernel.kernelJar().toString())
                + ", " + quote(KernelMain.class.getName()) + ", \"{connection_file}\"],\n"
                + "  \"display_name\": \"Java (engram-djl)\",\n  \"language\": \"java\",\n"
                + "  \"interrupt_mode\": \"message\",\n"
                + "  \"env\": {\"OPT_OUT_TRACKING\": \"true\"}\n}\n";
        Files.writeString(dir.resolve("kernel.json"), spec, StandardCharsets.UTF_8);
        System.out.println("installed " + dir.resolve("kernel.json"));
    }

    private static String quote(String s) {
        return "\"" + s.replace("\\", "\\\\").replace("\"", "\\\"") + "\"";
    }
}
