import Foundation

/// The content of a supply-chain manifest: one lot of one vendor, as shipped to a buyer.
///
/// It travels as the encapsulated content (id-data) of a CMS SignedData (RFC 5652 §5) signed by the vendor's
/// manifest-signing certificate; docs/manifests.md describes the whole format with an example. The JSON is
/// written once by the exporter and verified byte for byte through the signature, so its key order and spacing
/// never need to be canonical. Binary values (DER certificates, keys, attestations) are base64 (RFC 4648 §4).
public struct ManifestDocument: Codable, Sendable, Hashable {
    public static let formatName = "fleetkey-manifest/1"

    public var format: String
    /// The ecosystem's name, as in policy.json (informational: trust comes from the owner's trust anchor).
    public var ecosystem: String
    public var vendor: String
    public var lot: String
    /// The buyer the lot is for, if the vendor named one.
    public var buyer: String?
    public var createdAt: Date
    /// The certificates between a device certificate and the ecosystem root, issuer first: the vendor CA.
    public var chain: [String]
    public var devices: [ManifestEntry]

    public init(
        ecosystem: String, vendor: String, lot: String, buyer: String?, createdAt: Date, chain: [String],
        devices: [ManifestEntry]
    ) {
        self.format = Self.formatName
        self.ecosystem = ecosystem
        self.vendor = vendor
        self.lot = lot
        self.buyer = buyer
        self.createdAt = createdAt
        self.chain = chain
        self.devices = devices
    }

    /// The bytes that are signed: compact JSON with sorted keys and ISO 8601 times.
    public func encoded() throws -> [UInt8] {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        encoder.dateEncodingStrategy = .iso8601
        return Array(try encoder.encode(self))
    }

    /// Reads manifest content; the error says what is wrong with its structure.
    public static func decode(_ bytes: [UInt8]) throws -> ManifestDocument {
        let decoder = JSONDecoder()
        decoder.dateDecodingStrategy = .iso8601
        let document: ManifestDocument
        do {
            document = try decoder.decode(ManifestDocument.self, from: Data(bytes))
        } catch let DecodingError.keyNotFound(key, context) {
            throw FleetkeyError(
                .manifestRejected,
                "the manifest content lacks '\(key.stringValue)' at \(Self.path(context.codingPath)); nothing was imported"
            )
        } catch let DecodingError.typeMismatch(_, context), let DecodingError.valueNotFound(_, context),
            let DecodingError.dataCorrupted(context)
        {
            throw FleetkeyError(
                .manifestRejected,
                "the manifest content is malformed at \(Self.path(context.codingPath)): \(context.debugDescription); "
                    + "nothing was imported")
        } catch {
            throw FleetkeyError(.manifestRejected, "the manifest content is not JSON: \(error); nothing was imported")
        }
        guard document.format == formatName else {
            throw FleetkeyError(
                .manifestRejected,
                "the manifest format is '\(document.format)', not \(formatName); nothing was imported")
        }
        // The lot and buyer become registry values and report text: held to the rules of the names they are.
        do {
            _ = try LotName(document.lot, field: "the manifest's lot")
            if let buyer = document.buyer { _ = try OwnerName(buyer) }
        } catch let error as FleetkeyError {
            throw FleetkeyError(.manifestRejected, "\(error.reason) (in the manifest content); nothing was imported")
        }
        return document
    }

    private static func path(_ path: [any CodingKey]) -> String {
        path.isEmpty ? "the top level" : path.map { $0.intValue.map { "[\($0)]" } ?? ".\($0.stringValue)" }.joined()
    }
}

/// One device of a manifest: who it is, its key, its certificate, and what its secure element said at the factory.
///
/// Every field is checked against a signed object on import: the serial and hardware module against the
/// certificate (signed by the vendor CA), the key against the certificate and the attestation, the attestation
/// against the element's attestation key, which the vendor vouches for by signing the manifest.
public struct ManifestEntry: Codable, Sendable, Hashable {
    /// The device serial (the certificate subject's serialNumber).
    public var serial: String
    public var hardwareModule: HardwareModule
    /// DER SubjectPublicKeyInfo of the identity key, base64.
    public var publicKey: String
    /// The device certificate, DER, base64; the rest of its chain is the manifest's ``ManifestDocument/chain``.
    public var certificate: String
    /// The element's DER key attestation, base64, and its attestation key (DER SubjectPublicKeyInfo, base64).
    public var attestation: String
    public var attestationKey: String

    /// The hardwareModuleName (RFC 4108 §5): the element's type OID and serial, as text.
    public struct HardwareModule: Codable, Sendable, Hashable {
        public var type: String
        public var serial: String

        public init(type: String, serial: String) {
            self.type = type
            self.serial = serial
        }
    }

    public init(
        serial: String, hardwareModule: HardwareModule, publicKey: String, certificate: String, attestation: String,
        attestationKey: String
    ) {
        self.serial = serial
        self.hardwareModule = hardwareModule
        self.publicKey = publicKey
        self.certificate = certificate
        self.attestation = attestation
        self.attestationKey = attestationKey
    }
}
