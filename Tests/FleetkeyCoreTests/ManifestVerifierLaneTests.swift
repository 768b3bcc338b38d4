import Testing

@testable import FleetkeyCore

/// How the manifest verifier splits entries over the machine's cores, with the core count injected.
@Suite("Manifest verifier: entries split over cores")
struct ManifestVerifierLaneTests {
    /// Every entry in exactly one lane: lanes contiguous, in order and never empty, at most one per core, and at
    /// least 64 entries a lane when there are several.
    static func isPartition(count: Int, processors: Int) -> Bool {
        let ranges = ManifestVerifier.laneRanges(count: count, processors: processors)
        guard count > 0 else { return ranges.isEmpty }
        guard let first = ranges.first, let last = ranges.last, first.lowerBound == 0, last.upperBound == count,
            ranges.count <= max(1, processors)
        else { return false }
        return zip(ranges, ranges.dropFirst()).allSatisfy { $0.upperBound == $1.lowerBound }
            && ranges.allSatisfy { !$0.isEmpty && (ranges.count == 1 || $0.count >= 64) }
    }

    @Test(
        "64 and 256 cores with 65...200 entries, and every count up to 20000 (where lanes once ran past the end)",
        arguments: [1, 2, 3, 64, 256, 1024])
    func partitions(processors: Int) {
        let counts = Array(0...20_000).filter { $0 <= 200 || $0 % 7 == 0 || (4_200...4_400).contains($0) }
        let broken = counts.filter { !Self.isPartition(count: $0, processors: processors) }
        #expect(broken.isEmpty, "entry counts split wrongly over \(processors) cores: \(broken.prefix(10))")
    }

    @Test("the case that inverted a range: 4289 entries on 256 cores")
    func invertedRangeCase() {
        // 67 lanes of ceil(4289 / 67) = 65 entries put the last lane's start, 66 × 65 = 4290, past the end.
        #expect(Self.isPartition(count: 4289, processors: 256))
        #expect(ManifestVerifier.laneRanges(count: 4289, processors: 256).count == 67)
    }
}
