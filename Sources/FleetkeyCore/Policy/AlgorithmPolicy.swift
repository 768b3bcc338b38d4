import Foundation

/// One allowed algorithm in the algorithm policy: a family, a minimum size, and the date it stops being allowed.
///
/// Algorithms are policy, not constants (DESIGN.md): when a rule's sunset passes, new issuance with it stops
/// and the fleet can be asked which keys still use it.
public struct AlgorithmRule: Codable, Sendable, Hashable {
    public var algorithm: KeyFamily
    public var minimumBits: Int
    /// The first day (UTC, `YYYY-MM-DD`) on which the rule no longer allows issuance.
    public var sunset: PolicyDate
    public var note: String?

    public init(algorithm: KeyFamily, minimumBits: Int, sunset: PolicyDate, note: String? = nil) {
        self.algorithm = algorithm
        self.minimumBits = minimumBits
        self.sunset = sunset
        self.note = note
    }
}

/// The ecosystem's algorithm policy: which keys may be certified, and until when.
public struct AlgorithmPolicy: Codable, Sendable, Hashable {
    public var rules: [AlgorithmRule]

    public init(rules: [AlgorithmRule]) {
        self.rules = rules
    }

    /// Today's defaults: NIST SP 800-57 and SP 800-131A strengths, RSA below 3072 bits sunset at the end of 2030.
    public static let `default` = AlgorithmPolicy(rules: [
        AlgorithmRule(algorithm: .ecdsaP256, minimumBits: 256, sunset: PolicyDate(year: 2041, month: 1, day: 1)),
        AlgorithmRule(algorithm: .ecdsaP384, minimumBits: 384, sunset: PolicyDate(year: 2046, month: 1, day: 1)),
        AlgorithmRule(algorithm: .ecdsaP521, minimumBits: 521, sunset: PolicyDate(year: 2046, month: 1, day: 1)),
        AlgorithmRule(algorithm: .ed25519, minimumBits: 256, sunset: PolicyDate(year: 2041, month: 1, day: 1)),
        AlgorithmRule(
            algorithm: .rsa, minimumBits: 2048, sunset: PolicyDate(year: 2031, month: 1, day: 1),
            note: "112-bit security, SP 800-131A"),
        AlgorithmRule(algorithm: .rsa, minimumBits: 3072, sunset: PolicyDate(year: 2036, month: 1, day: 1)),
    ])

    /// Checks that `key` may be certified at `date` under a profile that allows `profileFamilies`.
    ///
    /// The error names the rule that refused the key, so an operator knows which line of the policy to read.
    public func check(_ key: KeySpec, at date: Date, profile: String, profileFamilies: [KeyFamily])
        throws(FleetkeyError)
    {
        guard profileFamilies.contains(key.family) else {
            throw FleetkeyError(
                .algorithmNotAllowed,
                "\(key) keys are not allowed by profile '\(profile)' (profiles.\(profile).allowedAlgorithms: "
                    + "\(profileFamilies.map(\.rawValue).joined(separator: ", ")))"
            )
        }
        let family = rules.filter { $0.algorithm == key.family }
        guard !family.isEmpty else {
            throw FleetkeyError(
                .algorithmNotAllowed, "\(key) keys are not allowed: the algorithm policy has no rule for \(key.family)")
        }
        let bigEnough = family.filter { key.bits >= $0.minimumBits }
        guard !bigEnough.isEmpty else {
            let minimum = family.map(\.minimumBits).min() ?? 0
            throw FleetkeyError(
                .algorithmNotAllowed,
                "\(key.family.rawValue) key of \(key.bits) bits is too small: the algorithm policy requires at least "
                    + "\(minimum) bits (algorithms[\(key.family.rawValue)].minimumBits)"
            )
        }
        guard bigEnough.contains(where: { date < $0.sunset.date }) else {
            let last = bigEnough.map(\.sunset).max()!
            throw FleetkeyError(
                .algorithmNotAllowed,
                "\(key) keys are past their sunset (\(last)) in the algorithm policy; issue a stronger key"
            )
        }
    }
}

/// A calendar day in UTC, written `YYYY-MM-DD` in the policy file.
public struct PolicyDate: Codable, Sendable, Hashable, Comparable, CustomStringConvertible {
    public var year: Int
    public var month: Int
    public var day: Int

    public init(year: Int, month: Int, day: Int) {
        self.year = year
        self.month = month
        self.day = day
    }

    public init(parsing text: String) throws {
        let parts = text.split(separator: "-").compactMap { Int($0) }
        guard parts.count == 3, (1...12).contains(parts[1]), (1...31).contains(parts[2]), text.count == 10 else {
            throw FleetkeyError(.configuration, "'\(text)' is not a date: write it as YYYY-MM-DD")
        }
        self.init(year: parts[0], month: parts[1], day: parts[2])
    }

    /// Midnight UTC at the start of this day (integer civil-date arithmetic: issuance checks sunsets on its hot path).
    public var date: Date {
        Date(timeIntervalSince1970: Double(X509Time.days(fromCivil: year, month, day) * 86_400))
    }

    public var description: String {
        String(format: "%04d-%02d-%02d", year, month, day)
    }

    public static func < (lhs: PolicyDate, rhs: PolicyDate) -> Bool {
        (lhs.year, lhs.month, lhs.day) < (rhs.year, rhs.month, rhs.day)
    }

    public init(from decoder: any Decoder) throws {
        try self.init(parsing: decoder.singleValueContainer().decode(String.self))
    }
    public func encode(to encoder: any Encoder) throws {
        var container = encoder.singleValueContainer()
        try container.encode(description)
    }
}
