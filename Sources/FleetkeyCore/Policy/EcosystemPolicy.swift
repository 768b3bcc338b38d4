import Foundation

/// The ecosystem's published policy: profiles, algorithm policy and the public URLs relying parties use.
///
/// It is stored as human-editable JSON (`policy.json`) in the ecosystem directory; an operator may change
/// validity periods, algorithms and sunsets there, and every issuance reads it afresh.
public struct EcosystemPolicy: Codable, Sendable, Hashable {
    public var formatVersion: Int
    public var ecosystem: String
    /// The public address where `fleetkey serve` answers; the URL templates below derive from it.
    public var baseURL: String
    public var urls: PublicationURLs
    /// The hwType OID (RFC 4108 §5) used for hardwareModuleName when a request does not give one.
    public var hardwareModuleType: String
    public var algorithms: AlgorithmPolicy
    public var profiles: [String: CertificateProfile]

    /// Where relying parties find status and issuer certificates; `{issuer}` is replaced by the authority id.
    public struct PublicationURLs: Codable, Sendable, Hashable {
        public var ocsp: String
        public var crl: String
        public var caIssuers: String

        public init(ocsp: String, crl: String, caIssuers: String) {
            self.ocsp = ocsp
            self.crl = crl
            self.caIssuers = caIssuers
        }

        public func ocsp(issuer: String) -> String { ocsp.replacingOccurrences(of: "{issuer}", with: issuer) }
        public func crl(issuer: String) -> String { crl.replacingOccurrences(of: "{issuer}", with: issuer) }
        public func caIssuers(issuer: String) -> String {
            caIssuers.replacingOccurrences(of: "{issuer}", with: issuer)
        }
    }

    public init(
        ecosystem: String,
        baseURL: String,
        hardwareModuleType: String,
        algorithms: AlgorithmPolicy = .default,
        profiles: [String: CertificateProfile] = CertificateProfile.defaults
    ) throws {
        let base = baseURL.hasSuffix("/") ? String(baseURL.dropLast()) : baseURL
        guard let url = URL(string: base), let scheme = url.scheme, ["http", "https"].contains(scheme),
            url.host != nil
        else {
            throw FleetkeyError(
                .invalidArgument, "base URL '\(baseURL)' is not an absolute http(s) URL such as http://127.0.0.1:8080")
        }
        self.formatVersion = 1
        self.ecosystem = ecosystem
        self.baseURL = base
        self.urls = PublicationURLs(
            ocsp: base + "/ocsp/{issuer}",
            crl: base + "/crl/{issuer}.crl",
            caIssuers: base + "/ca/{issuer}.cer"
        )
        self.hardwareModuleType = hardwareModuleType
        self.algorithms = algorithms
        self.profiles = profiles
    }

    /// The named profile, or an error that lists the profiles the policy has.
    public func profile(_ name: String) throws(FleetkeyError) -> CertificateProfile {
        guard let profile = profiles[name] else {
            throw FleetkeyError(
                .notFound,
                "no certificate profile '\(name)' in the policy; profiles: \(profiles.keys.sorted().joined(separator: ", "))"
            )
        }
        return profile
    }

    /// Decodes a policy file, naming the field that is wrong when it does not decode.
    public static func decode(_ data: Data) throws -> EcosystemPolicy {
        do {
            return try JSONDecoder().decode(EcosystemPolicy.self, from: data)
        } catch let error as FleetkeyError {
            throw error
        } catch let DecodingError.keyNotFound(key, context) {
            throw FleetkeyError(.configuration, "policy.json: missing field '\(Self.path(context.codingPath + [key]))'")
        } catch let DecodingError.typeMismatch(_, context), let DecodingError.valueNotFound(_, context) {
            throw FleetkeyError(
                .configuration, "policy.json: field '\(Self.path(context.codingPath))': \(context.debugDescription)")
        } catch let DecodingError.dataCorrupted(context) {
            throw FleetkeyError(
                .configuration, "policy.json: '\(Self.path(context.codingPath))': \(context.debugDescription)")
        }
    }

    public func encoded() throws -> Data {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.prettyPrinted, .sortedKeys, .withoutEscapingSlashes]
        return try encoder.encode(self)
    }

    private static func path(_ keys: [any CodingKey]) -> String {
        keys.map { $0.intValue.map { "[\($0)]" } ?? $0.stringValue }.joined(separator: ".")
    }
}
