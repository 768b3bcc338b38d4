/// One line of the benchmark table: a workload's figure beside a reference measured in the same run.
///
/// Figures are only meaningful as ratios on a shared, noisy machine: the reference (raw crypto, a trivial
/// query, a peer implementation) absorbs the machine's speed, so the ratio is what a change moves.
struct BenchmarkRow: Codable, Sendable {
    var workload: String
    var size: String
    var figure: Double
    var unit: String
    var reference: String
    var referenceFigure: Double
    var referenceUnit: String
    /// figure / referenceFigure, or referenceFigure / figure when `lowerIsBetter` (so higher is always better).
    var ratio: Double
    var lowerIsBetter: Bool
    var peakRSSMiB: Double
    var target: String?
    var targetMet: Bool?
    var note: String?

    init(
        workload: String, size: String, figure: Double, unit: String, reference: String, referenceFigure: Double,
        referenceUnit: String, lowerIsBetter: Bool = false, peakRSSMiB: Double, target: String? = nil,
        targetMet: Bool? = nil, note: String? = nil
    ) {
        self.workload = workload
        self.size = size
        self.figure = figure
        self.unit = unit
        self.reference = reference
        self.referenceFigure = referenceFigure
        self.referenceUnit = referenceUnit
        self.lowerIsBetter = lowerIsBetter
        self.ratio = lowerIsBetter ? referenceFigure / figure : figure / referenceFigure
        self.peakRSSMiB = peakRSSMiB
        self.target = target
        self.targetMet = targetMet
        self.note = note
    }
}

/// A workload that could not run, and why (for example: its capability has not landed yet).
struct SkippedWorkload: Codable, Sendable {
    var workload: String
    var reason: String
}
