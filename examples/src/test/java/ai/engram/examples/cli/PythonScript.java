package ai.engram.examples.cli;

import org.testng.Assert;

import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.nio.file.Paths;
import java.util.concurrent.TimeUnit;

/** One of examples/scripts' Python helpers run as device-check runs it, with its exit code and output. */
record PythonScript(int code, String out) {

    /**
     * @param script the file name under examples/scripts
     * @param args its arguments
     * @return its exit code and its standard output and error together
     */
    static PythonScript run(String script, String... args) throws IOException, InterruptedException {
        Path path = Paths.get("scripts", script);
        String[] command = new String[args.length + 2];
        command[0] = "python3";
        command[1] = path.toString();
        System.arraycopy(args, 0, command, 2, args.length);
        Process p = new ProcessBuilder(command).redirectErrorStream(true).start();
        String out = new String(p.getInputStream().readAllBytes(), StandardCharsets.UTF_8);
        Assert.assertTrue(p.waitFor(60, TimeUnit.SECONDS), script + " did not finish");
        return new PythonScript(p.exitValue(), out);
    }
}
