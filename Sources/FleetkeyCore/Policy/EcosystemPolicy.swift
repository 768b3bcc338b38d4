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
    public var revocation: RevocationPolicy
    /// How devices enroll over EST; present in an owner's registry with a domain CA (`fleetkey owner ca create`).
    public var enrollment: EnrollmentPolicy?

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
        self.revocation = .default
    }

    /// How often status information is refreshed, and how CRLs are split.
    public struct RevocationPolicy: Codable, Sendable, Hashable {
        /// How many CRL partitions each vendor CA publishes. A certificate's partition is fixed at issuance from its
        /// serial (``CRLPartition``), and its cRLDistributionPoint names that partition's CRL, so no relying party
        /// downloads the whole fleet's revocations. 1 means one complete CRL per CA. Changing it only affects
        /// certificates issued afterwards; CRLs keep being published for every partition ever used.
        public var crlPartitions: Int
        /// nextUpdate - thisUpdate of vendor CA CRLs (RFC 5280 §5.1.2.5); they are regenerated well before.
        public var crlValidityHours: Int
        /// nextUpdate - thisUpdate of the root's CRL, which is signed rarely because the root stays offline.
        public var rootCRLValidityDays: Int
        /// nextUpdate - thisUpdate of OCSP responses (RFC 6960 §4.2.2.1).
        public var ocspValidityMinutes: Int

        public init(crlPartitions: Int, crlValidityHours: Int, rootCRLValidityDays: Int, ocspValidityMinutes: Int) {
            self.crlPartitions = crlPartitions
            self.crlValidityHours = crlValidityHours
            self.rootCRLValidityDays = rootCRLValidityDays
            self.ocspValidityMinutes = ocspValidityMinutes
        }

        public static let `default` = RevocationPolicy(
            crlPartitions: 1, crlValidityHours: 24, rootCRLValidityDays: 90, ocspValidityMinutes: 60)
    }

    /// The policy of a new ecosystem: today's standard profiles and algorithms, its public URLs under `baseURL`,
    /// and a fresh hardwareModuleName type OID under the UUID arc 2.25 (ITU-T X.667), so an ecosystem needs no
    /// registration to start. The arc is 63 random bits rather than a full 128-bit UUID because SwiftASN1 holds arcs
    /// in 64-bit integers; operators with a registered OID put it in policy.json (`hardwareModuleType`).
    public static func founding(ecosystem name: String, baseURL: String, random: any RandomSource) throws
        -> EcosystemPolicy
    {
        guard (try? VendorName(name)) != nil else {
            throw FleetkeyError(
                .invalidArgument, "ecosystem name '\(name)' must be 1-64 letters, digits, spaces, '-', '.' or '_'")
        }
        let value = random.bytes(count: 8).reduce(UInt64(0)) { $0 << 8 | UInt64($1) } & 0x7FFF_FFFF_FFFF_FFFF
        return try EcosystemPolicy(ecosystem: name, baseURL: baseURL, hardwareModuleType: "2.25.\(value)")
    }

    /// The policy of an owner's registry once it has a domain CA: the owner profiles
    /// (``CertificateProfile/ownerDefaults``), status URLs under the owner's own `baseURL`, and EST enrollment without
    /// approval. The hardwareModuleName type is unused there (the owner issues none) but kept well-formed.
    public static func owner(name: String, baseURL: String, random: any RandomSource) throws -> EcosystemPolicy {
        var policy = try founding(ecosystem: name, baseURL: baseURL, random: random)
        policy.profiles = CertificateProfile.ownerDefaults
        policy.enrollment = .default
        return policy
    }

    /// The most CRL partitions a CA may have.
    public static let maximumCRLPartitions = 4096

    /// The number of CRL partitions `issuer` publishes: the root always publishes one CRL.
    public func crlPartitionCount(issuer: String) -> Int {
        issuer == "root" ? 1 : max(1, revocation.crlPartitions)
    }

    /// The CRL a new certificate with this serial from `issuer` goes to, under today's partition count.
    public func crlScope(issuer: String, serial: [UInt8]) -> CRLScope {
        let count = crlPartitionCount(issuer: issuer)
        return count > 1 ? .partition(CRLPartition.index(serial: serial, of: count)) : .complete
    }

    /// The CRLs `issuer` publishes under today's partition count (CRLs that earlier certificates name come on top).
    public func currentCRLScopes(issuer: String) -> [CRLScope] {
        let count = crlPartitionCount(issuer: issuer)
        return count > 1 ? (0..<count).map { .partition($0) } : [.complete]
    }

    /// The URL of one of `issuer`'s CRLs (`.../crl/vendor-acme.crl`, or `.../crl/vendor-acme-p3.crl`).
    public func crlURL(issuer: String, scope: CRLScope) -> String {
        urls.crl(issuer: scope.fileStem(issuer: issuer))
    }

    enum CodingKeys: String, CodingKey {
        case formatVersion, ecosystem, baseURL, urls, hardwareModuleType, algorithms, profiles, revocation, enrollment
    }

    public init(from decoder: any Decoder) throws {
        let container = try decoder.container(keyedBy: CodingKeys.self)
        formatVersion = try container.decode(Int.self, forKey: .formatVersion)
        ecosystem = try container.decode(String.self, forKey: .ecosystem)
        baseURL = try container.decode(String.self, forKey: .baseURL)
        urls = try container.decode(PublicationURLs.self, forKey: .urls)
        hardwareModuleType = try container.decode(String.self, forKey: .hardwareModuleType)
        algorithms = try container.decode(AlgorithmPolicy.self, forKey: .algorithms)
        profiles = try container.decode([String: CertificateProfile].self, forKey: .profiles)
        revocation = try container.decodeIfPresent(RevocationPolicy.self, forKey: .revocation) ?? .default
        enrollment = try container.decodeIfPresent(EnrollmentPolicy.self, forKey: .enrollment)
        try enrollment?.validate()
        guard (1...Self.maximumCRLPartitions).contains(revocation.crlPartitions) else {
            throw FleetkeyError(
                .configuration,
                "policy.json: revocation.crlPartitions must be between 1 and \(Self.maximumCRLPartitions)")
        }
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
