package ai.engram.hash;

import java.io.IOException;
import java.util.List;

/** Runs a python3 + numpy script for cross-checks from other test packages. */
public final class Pcg64NumpyBridge {

    private Pcg64NumpyBridge() {}

    /**
     * @param script python source
     * @return its non-blank output lines; fails the test if python3 or numpy is missing
     * @throws IOException if python3 cannot be started
     * @throws InterruptedException if interrupted
     */
    public static List<String> runPython(String script) throws IOException, InterruptedException {
        return Pcg64NumpyCrossCheckTest.runPython(script);
    }
}
