import Foundation

/// Certificate status straight from the registry: what the OCSP responder asks on a cache miss.
///
/// A serial the registry does not hold is `unknown`, never `good` (RFC 6960 §2.2).
public struct RegistryStatusSource: CertificateStatusSource {
    let store: any RevocationStore

    public init(store: any RevocationStore) {
        self.store = store
    }

    public func status(issuer: String, serial: [UInt8]) async throws -> RevocationStatus {
        let serialText = Hex.upper(serial.drop { $0 == 0 })
        guard let ref = try await store.certificateRefs(.certificate(issuer: issuer, serial: serialText)).first else {
            return .unknown
        }
        switch (ref.status, ref.revocation) {
        case (.valid, _): return .good
        case (.revoked, let info?):
            return .revoked(at: info.revokedAt, reason: info.reason, invalidityDate: info.invalidityDate)
        case (.revoked, nil):
            // The stores refuse to read such a row; should one get here, it is revoked, never good.
            return .revoked(at: .distantPast, reason: nil, invalidityDate: nil)
        }
    }
}
