/// Why a manifest was refused: every problem found, each naming the entry (by position and serial) and the rule.
///
/// Verification does not stop at the first bad entry, so that a buyer learns everything wrong with a shipment
/// at once; any problem at all refuses the whole manifest.
public struct ManifestReport: Sendable, Hashable, Codable {
    public struct Problem: Sendable, Hashable, Codable {
        /// The entry's position in `devices` (0-based), or `nil` for the manifest as a whole.
        public var entry: Int?
        /// The entry's serial as the manifest gives it.
        public var serial: String?
        /// A short name of the rule that failed: `signature`, `chain`, `signer-status`, `certificate`, `key`,
        /// `attestation`, `clone`, `switched-key`, `duplicate`, `vendor`, `malformed`.
        public var rule: String
        public var detail: String

        public init(entry: Int?, serial: String?, rule: String, detail: String) {
            self.entry = entry
            self.serial = serial
            self.rule = rule
            self.detail = detail
        }

        public var line: String {
            let place = entry.map { "entry \($0)" + (serial.map { " (serial \($0))" } ?? "") } ?? "manifest"
            return "\(place): [\(rule)] \(detail)"
        }
    }

    public var problems: [Problem]
    public var entriesChecked: Int

    public init(problems: [Problem] = [], entriesChecked: Int = 0) {
        self.problems = problems
        self.entriesChecked = entriesChecked
    }

    public var isClean: Bool { problems.isEmpty }

    /// The error a refused import ends with: every problem, one per line.
    public func rejection() -> FleetkeyError {
        let badEntries = Set(problems.compactMap(\.entry)).count
        var text = "the manifest was refused and nothing was imported: \(problems.count) problem(s)"
        if badEntries > 0 { text += " in \(badEntries) of \(entriesChecked) entries" }
        let shown = problems.prefix(200).map { "\n  " + $0.line }.joined()
        text += ":" + shown
        if problems.count > 200 { text += "\n  … and \(problems.count - 200) more (see --json)" }
        return FleetkeyError(.manifestRejected, text)
    }
}
