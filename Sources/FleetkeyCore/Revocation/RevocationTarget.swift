/// What an operator asks to revoke (`fleetkey revoke --serial|--device|--lot|--vendor`).
public enum RevocationTarget: Sendable, Hashable, CustomStringConvertible {
    /// One certificate by serial (upper-case hex), optionally naming its issuer when serials collide across CAs.
    case certificate(serial: String, issuer: String?)
    /// Every certificate of a device, named by serial and optionally vendor.
    case device(serial: DeviceSerial, vendor: VendorName?)
    /// Every certificate of every device of a production lot.
    case lot(name: String, vendor: VendorName?)
    /// A vendor's issuing CA and everything under it.
    case vendor(VendorName)

    public var description: String {
        switch self {
        case .certificate(let serial, let issuer): "certificate \(issuer.map { "\($0)/" } ?? "")\(serial)"
        case .device(let serial, let vendor): "device \(vendor.map { "\($0)/" } ?? "")\(serial)"
        case .lot(let name, let vendor): "lot \(vendor.map { "\($0)/" } ?? "")\(name)"
        case .vendor(let name): "vendor \(name) and everything it issued"
        }
    }
}

/// What a revocation did.
public struct RevocationReport: Sendable, Hashable {
    /// Certificates this revocation revoked.
    public var revoked: [CertificateRef]
    /// Certificates the target selected that were already revoked, left as they were.
    public var alreadyRevoked: Int
    /// Devices moved to `revoked`.
    public var devices: Int
    /// Issuers whose CRLs and OCSP answers change.
    public var issuers: Set<String>
}
