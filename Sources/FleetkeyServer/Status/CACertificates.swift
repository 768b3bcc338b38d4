import FleetkeyCore

/// The CA certificates served at `/ca/ISSUER.cer` (the AIA caIssuers URL, RFC 5280 §4.2.2.1), held in memory.
///
/// Loaded once when the server starts, from the registry's authority records (the root's included: only its
/// certificate, never its key), so a request for an unknown name costs a dictionary lookup, not a database query.
package struct CACertificates: Sendable, Hashable {
    private let byFileName: [String: [UInt8]]

    /// `certificates` maps authority identifiers (`root`, `vendor-acme`) to certificate DER.
    package init(_ certificates: [String: [UInt8]] = [:]) {
        byFileName = Dictionary(uniqueKeysWithValues: certificates.map { ("\($0.key).cer", $0.value) })
    }

    /// Reads the certificates of `authorities` from the registry; an authority it does not hold is skipped.
    package static func load(_ authorities: [String], from store: any RegistryStore) async throws -> CACertificates {
        var certificates: [String: [UInt8]] = [:]
        for id in authorities {
            if let record = try await store.authority(id: id) { certificates[id] = record.certificateDER }
        }
        return CACertificates(certificates)
    }

    /// The DER for a file name such as `vendor-acme.cer`.
    package func certificate(named file: String) -> [UInt8]? { byFileName[file] }

    package var fileNames: [String] { byFileName.keys.sorted() }
}
