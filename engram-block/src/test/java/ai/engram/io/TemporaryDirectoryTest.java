package ai.engram.io;

import org.testng.Assert;
import org.testng.annotations.Test;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;

public class TemporaryDirectoryTest {

    @Test
    public void closingDeletesEverythingUnderIt() throws IOException {
        Path dir;
        try (TemporaryDirectory tmp = TemporaryDirectory.create("engram-tmp-test")) {
            dir = tmp.path();
            Files.createDirectories(dir.resolve("a/b"));
            Files.write(dir.resolve("a/b/model.safetensors"), new byte[4096]);
            Files.writeString(dir.resolve("config.json"), "{}");
            Assert.assertTrue(Files.isDirectory(dir));
        }
        Assert.assertFalse(Files.exists(dir), dir + " is still there");
        TemporaryDirectory.deleteTree(dir); // gone already: nothing to do, no error
    }

    @Test
    public void aFailingBodyStillDeletesItAndKeepsItsOwnException() throws IOException {
        Path dir = null;
        try (TemporaryDirectory tmp = TemporaryDirectory.create("engram-tmp-test")) {
            dir = tmp.path();
            throw new IllegalStateException("the body failed");
        } catch (IllegalStateException e) {
            Assert.assertEquals(e.getMessage(), "the body failed", "the body's exception is the one thrown");
        }
        Assert.assertFalse(Files.exists(dir), "deleted although the body threw");
    }
}
