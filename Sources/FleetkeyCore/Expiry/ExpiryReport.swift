import Foundation
import SwiftASN1
import X509

/// Which certificates an expiry report covers.
public enum ExpiryScope: Sendable, Hashable, CustomStringConvertible {
    case all
    /// The devices of one vendor.
    case vendor(VendorName)
    /// The devices of a lot (of any vendor with that lot name).
    case lot(String)
    /// The devices a supply-chain manifest shipped to this owner.
    case owner(String)
    /// The members of an access-control group.
    case group(DeviceGroup)

    /// Whether a certificate is in scope. A CA's or a delegated signer's certificate (no device) is in scope of
    /// `all` only; CAs are reported apart, with the certificates beneath them.
    func covers(_ certificate: ExpiringCertificate) -> Bool {
        switch self {
        case .all: return true
        case .vendor(let vendor): return certificate.device?.vendor == vendor
        case .lot(let lot): return certificate.device != nil && certificate.lot == lot
        case .owner(let owner): return certificate.device != nil && certificate.owner == owner
        case .group(let group):
            guard let device = certificate.device else { return false }
            return group.selectors.contains { $0.matches(id: device, lot: certificate.lot) }
        }
    }

    public var description: String {
        switch self {
        case .all: "all certificates"
        case .vendor(let vendor): "vendor \(vendor)"
        case .lot(let lot): "lot \(lot)"
        case .owner(let owner): "owner \(owner)"
        case .group(let group): "group \(group.name)"
        }
    }
}

/// What expires in a window, and what is overdue for renewal: `fleetkey expiry report`.
///
/// Certificates are those still valid (not revoked) whose notAfter falls in the window, read through the registry's
/// `not_after` index, so the report costs what the window holds, not what the registry holds. A CA whose own
/// certificate expires in the window is listed with the number of valid certificates beneath it that would outlive
/// it: those whose notAfter is its own or later. Issuance clamps a certificate's notAfter to its issuer's
/// (``DraftBuilder``), so these are the certificates its expiry cuts short; they stop validating when it expires
/// (RFC 5280 §6.1.3 (a)(2) checks every certificate of the path).
public struct ExpiryReport: Sendable, Hashable, Codable {
    public struct Entry: Sendable, Hashable, Codable {
        public var issuer: String
        public var serial: String
        public var profile: String
        public var subject: String
        public var notAfter: Date
        /// Whole days from the report's time to notAfter, rounded down.
        public var daysLeft: Int
        /// `VENDOR/SERIAL`, for a device's certificate.
        public var device: String?
        public var lot: String?
        /// Past the renewal time the owner's policy sets (`enrollment.renewAtFraction` plus its jitter), and still
        /// the device's current certificate: the device should have renewed and has not.
        public var renewalOverdue: Bool
    }

    public struct Authority: Sendable, Hashable, Codable {
        public var id: String
        public var kind: String
        public var notAfter: Date
        public var daysLeft: Int
        /// Valid certificates it signed, directly or through the CAs it signed, whose notAfter is its own or later:
        /// those its expiry cuts short.
        public var outlivingCertificates: Int
    }

    public var generatedAt: Date
    public var windowEnd: Date
    public var scope: String
    public var certificates: [Entry]
    public var authorities: [Authority]
    /// How many of ``certificates`` are overdue for renewal.
    public var renewalOverdue: Int
}

/// Builds expiry reports from the registry.
public struct ExpiryReporter: Sendable {
    public let store: any RegistryStore & FleetOperationsStore
    public let clock: any WallClock
    /// The renewal window devices follow; `nil` where the registry issues no operational certificates.
    public let renewal: EnrollmentPolicy?

    public init(store: any RegistryStore & FleetOperationsStore, clock: any WallClock, renewal: EnrollmentPolicy?) {
        self.store = store
        self.clock = clock
        self.renewal = renewal
    }

    /// The longest window a report may span: ten years, past any certificate Fleetkey's profiles issue.
    public static let maximumWindow: TimeInterval = 3_650 * 86_400

    public func report(within window: TimeInterval, scope: ExpiryScope) async throws -> ExpiryReport {
        guard window > 0, window <= Self.maximumWindow else {
            throw FleetkeyError(.invalidArgument, "--within must be more than 0 and at most 3650d")
        }
        let now = clock.now()
        let end = now.addingTimeInterval(window)
        let expiring = try await store.expiringCertificates(in: now...end, limit: nil)
        var entries: [ExpiryReport.Entry] = []
        for certificate in expiring where scope.covers(certificate) {
            entries.append(
                ExpiryReport.Entry(
                    issuer: certificate.issuer, serial: certificate.serial, profile: certificate.profile,
                    subject: certificate.subject, notAfter: certificate.notAfter,
                    daysLeft: Self.days(from: now, to: certificate.notAfter),
                    device: certificate.device.map { "\($0)" },
                    lot: certificate.lot, renewalOverdue: overdue(certificate, now: now)))
        }
        return ExpiryReport(
            generatedAt: now, windowEnd: end, scope: "\(scope)", certificates: entries,
            authorities: try await authorities(expiringBy: end, now: now),
            renewalOverdue: entries.count { $0.renewalOverdue })
    }

    /// An operational certificate (the domain CA's) past its renewal time. Only the domain CA's certificates renew
    /// over EST; factory identities and CAs are replaced, not renewed. A valid one in the window is still the
    /// device's current one, since a renewal revokes the certificate it replaces (`superseded`).
    func overdue(_ certificate: ExpiringCertificate, now: Date) -> Bool {
        guard let renewal, certificate.issuer == Ecosystem.domainCAID, certificate.device != nil else { return false }
        let lifetime = certificate.notAfter.timeIntervalSince(certificate.notBefore)
        let latest = certificate.notBefore.addingTimeInterval(
            lifetime * (renewal.renewAtFraction + renewal.renewJitterFraction))
        return now >= latest
    }

    /// The registry's CAs whose certificates expire by `end`, with what they leave stranded.
    func authorities(expiringBy end: Date, now: Date) async throws -> [ExpiryReport.Authority] {
        var records: [AuthorityRecord] = []
        for id in [TrustAnchor.authorityID, Ecosystem.domainCAID] {
            if let record = try await store.authority(id: id) { records.append(record) }
        }
        for vendor in try await store.vendors() {
            if let record = try await store.authority(id: vendor.authorityID) { records.append(record) }
        }
        let certificates = try records.map { record in
            do {
                return try Certificate(derEncoded: record.certificateDER)
            } catch {
                throw FleetkeyError(
                    .storage, "authorities row '\(record.id)': the stored certificate does not decode (\(error))")
            }
        }
        var reported: [ExpiryReport.Authority] = []
        for (record, certificate) in zip(records, certificates) where certificate.notValidAfter <= end {
            // The CAs beneath: those whose certificate this one issued (the root's vendor CAs).
            let beneath = zip(records, certificates).filter { other, otherCertificate in
                other.id != record.id && otherCertificate.issuer == certificate.subject
            }.map(\.0.id)
            var outliving = 0
            for issuer in [record.id] + beneath {
                outliving += try await store.validCertificateCount(
                    issuer: issuer, notAfterAtOrAfter: certificate.notValidAfter)
            }
            reported.append(
                ExpiryReport.Authority(
                    id: record.id, kind: record.kind.rawValue, notAfter: certificate.notValidAfter,
                    daysLeft: Self.days(from: now, to: certificate.notValidAfter), outlivingCertificates: outliving))
        }
        return reported.sorted { ($0.notAfter, $0.id) < ($1.notAfter, $1.id) }
    }

    static func days(from now: Date, to date: Date) -> Int {
        Int((date.timeIntervalSince(now) / 86_400).rounded(.down))
    }
}

/// A length of time as operators write it: a whole number and a unit, `90s`, `15m`, `12h`, `30d` or `2w`.
public enum DurationText {
    public static func seconds(_ text: String, field: String) throws(FleetkeyError) -> TimeInterval {
        let units: [Character: TimeInterval] = ["s": 1, "m": 60, "h": 3_600, "d": 86_400, "w": 604_800]
        guard let unit = text.last, let scale = units[unit], let number = Int(text.dropLast()), number > 0,
            number <= 100_000
        else {
            throw FleetkeyError(
                .invalidArgument,
                "\(field) \(NameRule.quoted(text)) is not a duration: write a whole number and a unit, as 30d, 12h, "
                    + "15m, 90s or 2w")
        }
        return TimeInterval(number) * scale
    }
}
