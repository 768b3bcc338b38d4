import SwiftASN1
import X509

/// Which CRL partition a new certificate goes to, from its serial number.
///
/// Serials are uniformly random (``SerialNumberGenerator``), so their last four octets spread certificates
/// evenly over the partitions. The partition chosen here is written into the certificate's cRLDistributionPoint
/// and recorded with it (``CRLScope``); later CRLs list it by that record, whatever the partition count is then.
public enum CRLPartition {
    public static func index(serial: [UInt8], of count: Int) -> Int {
        guard count > 1 else { return 0 }
        let tail = serial.suffix(4).reduce(UInt32(0)) { $0 << 8 | UInt32($1) }
        return Int(tail % UInt32(count))
    }
}

/// Which of its issuer's CRLs covers a certificate: the one its cRLDistributionPoint names (RFC 5280 §4.2.1.13).
///
/// The complete CRL carries no issuingDistributionPoint, so it claims every certificate of the issuer and lists
/// every revoked one (RFC 5280 §5.2.5); a partition's CRL carries a critical issuingDistributionPoint naming its
/// URL and lists the revoked certificates whose distribution point is that URL. A certificate's scope is fixed
/// when it is issued and recorded with it, so changing `crlPartitions` never moves a certificate to a CRL its
/// distribution point does not name.
public enum CRLScope: Hashable, Sendable, Comparable, CustomStringConvertible {
    /// `<issuer>.crl`: every revoked certificate of the issuer.
    case complete
    /// `<issuer>-p<index>.crl`: the revoked certificates whose distribution point names this partition.
    case partition(Int)

    /// How the registry stores the scope: -1 for the complete CRL, the index for a partition.
    public var storedValue: Int {
        switch self {
        case .complete: -1
        case .partition(let index): index
        }
    }

    /// Reads a stored scope; any other number is an error, never a guess.
    public init(storedValue: Int) throws(FleetkeyError) {
        switch storedValue {
        case -1: self = .complete
        case 0...(EcosystemPolicy.maximumCRLPartitions - 1): self = .partition(storedValue)
        default:
            throw FleetkeyError(
                .storage,
                "CRL scope \(storedValue) is neither -1 (the complete CRL) nor a partition index below "
                    + "\(EcosystemPolicy.maximumCRLPartitions)")
        }
    }

    /// The CRL's file name in the issuer's CRL URL: `<issuer>.crl` or `<issuer>-p<index>.crl`.
    public func fileStem(issuer: String) -> String {
        switch self {
        case .complete: issuer
        case .partition(let index): "\(issuer)-p\(index)"
        }
    }

    /// The scope a CRL file name stands for (`vendor-acme.crl`, `vendor-acme-p3.crl`), or `nil` when it is not a CRL
    /// of `issuer`.
    public init?(fileName: String, issuer: String) {
        guard fileName.hasSuffix(".crl") else { return nil }
        let stem = fileName.dropLast(4)
        if stem == issuer {
            self = .complete
            return
        }
        let prefix = issuer + "-p"
        guard stem.hasPrefix(prefix), let index = Int(stem.dropFirst(prefix.count)), index >= 0,
            index < EcosystemPolicy.maximumCRLPartitions, String(index) == stem.dropFirst(prefix.count)
        else { return nil }
        self = .partition(index)
    }

    public var description: String {
        switch self {
        case .complete: "complete"
        case .partition(let index): "partition \(index)"
        }
    }

    public static func < (lhs: CRLScope, rhs: CRLScope) -> Bool { lhs.storedValue < rhs.storedValue }
}

extension CRLScope {
    /// The scope a certificate's cRLDistributionPoint names, read from the certificate itself: how a registry made
    /// before scopes were recorded learns them. `nil` when it names no CRL of `issuer` (or none at all).
    public init?(distributionPointOf certificate: Certificate, issuer: String) throws {
        guard let ext = certificate.extensions[oid: FleetkeyOID.crlDistributionPoints] else { return nil }
        let urls = try CRLDistributionPoints(ext).points.flatMap(\.uris)
        guard let scope = urls.lazy.compactMap({ Self(url: $0, issuer: issuer) }).first else { return nil }
        self = scope
    }

    /// The scope a published CRL covers: a partition when its issuingDistributionPoint names one, else complete.
    public init(issuingDistributionPointOf crl: CertificateList, issuer: String) throws {
        guard let ext = crl.tbsCertList.extensions.first(where: { $0.oid == IssuingDistributionPoint.oid }) else {
            self = .complete
            return
        }
        let point = try IssuingDistributionPoint(derEncoded: Array(ext.value))
        guard case .fullName(let names)? = point.distributionPoint,
            let scope = names.lazy.compactMap({ name -> CRLScope? in
                guard case .uniformResourceIdentifier(let url) = name else { return nil }
                return Self(url: url, issuer: issuer)
            }).first
        else {
            throw FleetkeyError(
                .malformedInput, "the issuingDistributionPoint of a CRL of \(issuer) names no CRL URL of \(issuer)")
        }
        self = scope
    }

    init?(url: String, issuer: String) {
        guard let name = url.split(separator: "/").last else { return nil }
        self.init(fileName: String(name), issuer: issuer)
    }
}
