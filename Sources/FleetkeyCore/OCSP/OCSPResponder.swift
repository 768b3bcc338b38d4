import Foundation
import SwiftASN1
import Synchronization
import X509

/// An OCSP responder (RFC 6960, profiled for high volume by RFC 5019): request DER in, response DER out, no I/O.
///
/// It answers for the CAs it is given, each through its delegated responder (RFC 6960 §4.2.2.2), with statuses
/// from a ``CertificateStatusSource``:
/// - a CertID is matched on issuerNameHash and issuerKeyHash under SHA-1, SHA-256, SHA-384 or SHA-512, against
///   digests computed once per CA; a CA it does not serve gets `unauthorized` (RFC 6960 §2.3), garbage gets
///   `malformedRequest`, and a failing status source `internalError`, with nothing of the failure disclosed;
/// - `good` only for a serial the source knows and has not revoked; `revoked` with its time and reason (and
///   invalidityDate, RFC 5280 §5.3.2, as a singleExtension); `unknown` for anything else;
/// - a request about one certificate without a nonce is answered from pre-signed answers cached per (CA, serial,
///   CertID form), whatever the status, so the hot path makes no signature and asking again about the same
///   unknown serial costs nothing either. Answers are re-signed ahead of nextUpdate by
///   ``refreshExpiring(within:limit:)`` (an `unknown` one is re-read then and dropped if still unknown) and
///   dropped at once by ``invalidate(issuer:serial:)``. Serials are drawn from the CSPRNG (at least 64 bits), so
///   nobody asks about a serial before it is issued but by guessing it: a cached `unknown` holds no real
///   certificate back;
/// - a request with a nonce (RFC 9654) or about several certificates needs a signature of its own. Each such
///   signature, and each cache miss, is first granted by the caller's allowance (``respond(to:allowingFreshSignature:)``):
///   refused, a nonce is ignored and the cached answer sent (RFC 6960 §4.4.1 lets a responder leave the nonce out),
///   anything else is answered `tryLater` (§2.3).
///
/// The delegated responder of a CA can be replaced while serving (``replaceResponder(_:)``), as a renewal does.
///
/// Thread-safe: the cache and the responders sit behind one lock held only for dictionary operations; statuses
/// are read and signatures made outside it.
public final class OCSPResponder: Sendable {
    public let configuration: OCSPResponderConfiguration
    private let issuerIndex: [String: Int]
    private let certIDIndex: [IssuerDigest: Int]
    /// The CA certificate of each served issuer, by index: what a replacement responder must have been issued by.
    private let caCertificates: [Certificate]
    private let statusSource: any CertificateStatusSource
    private let clock: any WallClock
    private let state: Mutex<State>

    /// What the lock guards: the answers, and the responder that signed them. Replacing a responder and dropping
    /// its answers happen together, so an answer is never sent with another responder's certificate.
    private struct State: Sendable {
        var cache: OCSPResponseCache
        var issuers: [OCSPServedIssuer]
    }

    /// The digests that identify a CA in a CertID.
    private struct IssuerDigest: Hashable {
        var algorithm: OCSPHashAlgorithm
        var nameHash: [UInt8]
        var keyHash: [UInt8]
    }

    public init(
        issuers: [OCSPServedIssuer], statusSource: any CertificateStatusSource, clock: any WallClock,
        configuration: OCSPResponderConfiguration = OCSPResponderConfiguration()
    ) throws {
        guard configuration.validity.isFinite, (60...Self.longestValidity).contains(configuration.validity) else {
            throw FleetkeyError(
                .configuration,
                "OCSP response validity must be between 60 seconds and 366 days, not \(configuration.validity) seconds")
        }
        guard configuration.cacheCapacity >= 2, configuration.maximumRequestsPerMessage >= 1,
            configuration.maximumRequestSize >= 64
        else {
            throw FleetkeyError(
                .configuration,
                "OCSP responder limits must be positive: cache capacity ≥ 2, requests per message ≥ 1, "
                    + "request size ≥ 64"
            )
        }
        guard issuers.count <= Int(UInt16.max) else {
            throw FleetkeyError(.configuration, "one OCSP responder serves at most \(UInt16.max) CAs")
        }
        var issuerIndex: [String: Int] = [:]
        var certIDIndex: [IssuerDigest: Int] = [:]
        for (index, issuer) in issuers.enumerated() {
            guard issuerIndex.updateValue(index, forKey: issuer.authorityID) == nil else {
                throw FleetkeyError(.configuration, "CA '\(issuer.authorityID)' is given to the OCSP responder twice")
            }
            for algorithm in OCSPHashAlgorithm.allCases {
                let digest = IssuerDigest(
                    algorithm: algorithm, nameHash: issuer.hashes.nameHash(algorithm),
                    keyHash: issuer.hashes.keyHash(algorithm))
                if let other = certIDIndex.updateValue(index, forKey: digest) {
                    throw FleetkeyError(
                        .configuration,
                        "CAs '\(issuers[other].authorityID)' and '\(issuer.authorityID)' have the same name and key: "
                            + "an OCSP CertID could not tell them apart")
                }
            }
        }
        self.configuration = configuration
        self.issuerIndex = issuerIndex
        self.certIDIndex = certIDIndex
        self.caCertificates = issuers.map(\.caCertificate)
        self.servedAuthorities = issuers.map(\.authorityID)
        self.statusSource = statusSource
        self.clock = clock
        self.state = Mutex(State(cache: OCSPResponseCache(capacity: configuration.cacheCapacity), issuers: issuers))
    }

    /// The authority identifiers this responder answers for.
    public let servedAuthorities: [String]

    // MARK: Responders

    /// The delegated responder certificate that signs for `authorityID` now, `nil` for a CA not served here.
    public func responderCertificate(for authorityID: String) -> Certificate? {
        guard let index = issuerIndex[authorityID] else { return nil }
        return state.withLock { $0.issuers[index].responderCertificate }
    }

    /// Signs for a served CA with another delegated responder from now on (a renewed one): the answers the old
    /// responder signed are dropped at once, and an answer being signed by it while this runs is not cached.
    ///
    /// The replacement must be for a CA this responder serves, issued by that same CA certificate.
    public func replaceResponder(_ replacement: OCSPServedIssuer) throws {
        guard let index = issuerIndex[replacement.authorityID] else {
            throw FleetkeyError(
                .notFound,
                "the OCSP responder does not serve '\(replacement.authorityID)'; it serves "
                    + servedAuthorities.joined(separator: ", "))
        }
        guard replacement.caCertificate == caCertificates[index] else {
            throw FleetkeyError(
                .configuration,
                "the replacement responder of '\(replacement.authorityID)' is for another CA certificate than the one "
                    + "served")
        }
        let old = state.withLock { state in
            state.issuers[index] = replacement
            return state.cache.invalidate(issuer: UInt16(index))
        }
        _ = consume old  // the dropped answers are freed here, outside the lock
    }

    // MARK: Answering

    /// Answers one request, granting every signature it needs. Never throws: every failure is an OCSP error
    /// status (RFC 6960 §2.3).
    public func respond(to request: [UInt8]) async -> OCSPResponderAnswer {
        await respond(to: request, allowingFreshSignature: { true })
    }

    /// Answers one request; `allowsFreshSignature` is asked once before each signature made for this request alone
    /// (a cache miss, a nonce to echo, several CertIDs), so the caller can rate-limit what a stranger costs. A
    /// cache hit asks nothing. Never throws: every failure is an OCSP error status (RFC 6960 §2.3).
    public func respond(to request: [UInt8], allowingFreshSignature allowsFreshSignature: () -> Bool) async
        -> OCSPResponderAnswer
    {
        let parsed: ParsedRequest
        switch parse(request) {
        case .success(let value): parsed = value
        case .failure(let refusal): return .error(refusal.status)
        }
        let now = Self.seconds(clock.now())
        // RFC 6960 §4.4.1: a responder may leave the nonce out; it does when it may not sign for this request alone.
        let echoesNonce = parsed.nonce != nil && allowsFreshSignature()

        if !echoesNonce, parsed.certIDs.count == 1, let certID = parsed.certIDs.first,
            let key = OCSPCacheKey(
                issuer: parsed.issuer, variant: certID.hashAlgorithm, serial: certID.serialNumber.bytes)
        {
            let (hit, issuer, dropped, epoch) = state.withLock { state in
                let (entry, dropped) = state.cache.lookup(key, now: now)
                return (entry, state.issuers[parsed.issuer], dropped, state.cache.invalidationEpoch)
            }
            _ = consume dropped  // an evicted generation is freed here, outside the lock
            if let hit {
                return answer(
                    body: hit.body, issuer: issuer, producedAt: hit.producedAt, nextUpdate: hit.nextUpdate,
                    fromCache: true, nonce: false)
            }
            guard allowsFreshSignature() else { return .error(.tryLater) }
            let signed: Signed
            do {
                let status = try await statusSource.status(
                    issuer: issuer.authorityID, serial: Array(certID.serialNumber.bytes))
                signed = try await sign([(certID, status)], issuer: issuer, nonce: nil, now: now)
            } catch {
                return .error(.internalError)
            }
            let evicted = state.withLock {
                $0.cache.insert(
                    key, body: signed.body, producedAt: now, nextUpdate: signed.nextUpdate, readAtEpoch: epoch)
            }
            _ = consume evicted
            return answer(
                body: signed.body, issuer: issuer, producedAt: now, nextUpdate: signed.nextUpdate,
                fromCache: false, nonce: false)
        }

        // Several CertIDs, a nonce to echo, or a serial too long to cache: one signature for this request alone.
        guard echoesNonce || allowsFreshSignature() else { return .error(.tryLater) }
        let issuer = state.withLock { $0.issuers[parsed.issuer] }
        do {
            var answers: [(OCSPCertID, RevocationStatus)] = []
            answers.reserveCapacity(parsed.certIDs.count)
            for certID in parsed.certIDs {
                answers.append(
                    (
                        certID,
                        try await statusSource.status(
                            issuer: issuer.authorityID, serial: Array(certID.serialNumber.bytes))
                    ))
            }
            let signed = try await sign(answers, issuer: issuer, nonce: echoesNonce ? parsed.nonce : nil, now: now)
            return answer(
                body: signed.body, issuer: issuer, producedAt: now, nextUpdate: signed.nextUpdate,
                fromCache: false, nonce: echoesNonce)
        } catch {
            return .error(.internalError)
        }
    }

    // MARK: Cache upkeep

    /// Re-signs the cached answers whose nextUpdate falls within `interval` seconds (at most `limit` of them), with
    /// statuses read afresh. The background service calls this periodically with an interval longer than its
    /// period (say every minute, within a quarter of ``OCSPResponderConfiguration/validity``), so answers are
    /// replaced before they expire and never need a signature when asked for. An answer whose serial is still
    /// unknown is dropped instead: it is signed again only if asked for again.
    public func refreshExpiring(within interval: TimeInterval, limit: Int = .max) async -> OCSPCacheReport {
        let now = Self.seconds(clock.now())
        // A window beyond any validity covers every answer; a negative or NaN one covers the expired ones.
        let window = interval.isNaN ? 0 : Int64(min(max(interval, 0), 2 * Self.longestValidity).rounded(.up))
        let (due, issuers) = state.withLock { ($0.cache.expiring(by: now + window, limit: limit), $0.issuers) }
        var report = OCSPCacheReport()
        for (key, stamp) in due {
            let form = key.hashAlgorithmIdentifier
            guard Int(key.issuer) < issuers.count, let algorithm = form.hashAlgorithm else { continue }
            let issuer = issuers[Int(key.issuer)]
            let certID = OCSPCertID(
                hashAlgorithm: form, issuerNameHash: issuer.hashes.nameHash(algorithm),
                issuerKeyHash: issuer.hashes.keyHash(algorithm),
                serialNumber: Certificate.SerialNumber(bytes: key.serial))
            do {
                let status = try await statusSource.status(issuer: issuer.authorityID, serial: key.serial)
                guard status != .unknown else {
                    state.withLock { $0.cache.remove(key, stamp: stamp) }
                    report.dropped += 1
                    continue
                }
                let signed = try await sign([(certID, status)], issuer: issuer, nonce: nil, now: now)
                // A replaced responder dropped this entry: its stamp no longer matches, so nothing is replaced.
                let replaced = state.withLock {
                    $0.cache.replace(
                        key, stamp: stamp, body: signed.body, producedAt: now, nextUpdate: signed.nextUpdate)
                }
                if replaced { report.signed += 1 } else { report.dropped += 1 }
            } catch {
                report.failed += 1
            }
        }
        return report
    }

    /// Signs and caches answers ahead of any request, so even the first query for these serials costs no
    /// signature. `hashAlgorithms` are the CertID forms to prepare: SHA-1 with NULL parameters is what RFC 5019
    /// clients and openssl send. Serials the status source does not know are skipped (they are answered
    /// `unknown` when asked). Throws only for a CA this responder does not serve.
    public func presign(
        issuer authorityID: String, serials: [[UInt8]],
        hashAlgorithms: [OCSPHashAlgorithmIdentifier] = [OCSPHashAlgorithmIdentifier(.sha1)]
    ) async throws -> OCSPCacheReport {
        guard let index = issuerIndex[authorityID] else {
            throw FleetkeyError(
                .notFound,
                "the OCSP responder does not serve '\(authorityID)'; it serves "
                    + servedAuthorities.joined(separator: ", ")
            )
        }
        var report = OCSPCacheReport()
        for serial in serials {
            let magnitude = Self.magnitude(serial)
            let (issuer, epoch) = state.withLock { ($0.issuers[index], $0.cache.invalidationEpoch) }
            let status: RevocationStatus
            do {
                status = try await statusSource.status(issuer: authorityID, serial: magnitude)
            } catch {
                report.failed += 1
                continue
            }
            guard status != .unknown else { continue }
            for form in hashAlgorithms {
                guard let algorithm = form.hashAlgorithm,
                    let key = OCSPCacheKey(issuer: index, variant: form, serial: magnitude)
                else { continue }
                let certID = OCSPCertID(
                    hashAlgorithm: form, issuerNameHash: issuer.hashes.nameHash(algorithm),
                    issuerKeyHash: issuer.hashes.keyHash(algorithm),
                    serialNumber: Certificate.SerialNumber(bytes: magnitude))
                let now = Self.seconds(clock.now())
                do {
                    let signed = try await sign([(certID, status)], issuer: issuer, nonce: nil, now: now)
                    let evicted = state.withLock {
                        $0.cache.insert(
                            key, body: signed.body, producedAt: now, nextUpdate: signed.nextUpdate, readAtEpoch: epoch)
                    }
                    _ = consume evicted
                    report.signed += 1
                } catch {
                    report.failed += 1
                }
            }
        }
        return report
    }

    /// Drops every cached answer about one serial (its content octets) of one CA. Call it as soon as a revocation
    /// is recorded: the next query signs afresh from the new status.
    public func invalidate(issuer authorityID: String, serial: [UInt8]) {
        guard let index = issuerIndex[authorityID] else { return }
        let magnitude = Self.magnitude(serial)
        guard magnitude.count <= OCSPCacheKey.maximumSerialLength else { return }
        state.withLock { $0.cache.invalidate(issuer: UInt16(index), serial: magnitude) }
    }

    /// Drops every cached answer about one CA: for revoking a vendor CA and all it issued.
    public func invalidate(issuer authorityID: String) {
        guard let index = issuerIndex[authorityID] else { return }
        let old = state.withLock { $0.cache.invalidate(issuer: UInt16(index)) }
        _ = consume old
    }

    public var cacheStatistics: OCSPCacheStatistics {
        state.withLock {
            OCSPCacheStatistics(
                entries: $0.cache.count, capacity: $0.cache.capacity, hits: $0.cache.hits, misses: $0.cache.misses,
                evictions: $0.cache.evictions)
        }
    }

    // MARK: Parsing

    private struct ParsedRequest {
        var issuer: Int
        var certIDs: [OCSPCertID]
        var nonce: OCSPNonce?
    }

    private struct Refusal: Error {
        var status: OCSPResponseStatus
    }

    /// Reads a request strictly; anything unreadable is `malformedRequest`, any CA not served `unauthorized`.
    private func parse(_ bytes: [UInt8]) -> Result<ParsedRequest, Refusal> {
        guard !bytes.isEmpty, bytes.count <= configuration.maximumRequestSize else {
            return .failure(Refusal(status: .malformedRequest))
        }
        let request: OCSPRequest
        let nonce: OCSPNonce?
        do {
            request = try OCSPRequest(derEncoded: bytes)
            nonce = try OCSPNonce(of: request.tbsRequest)
        } catch {
            return .failure(Refusal(status: .malformedRequest))
        }
        let list = request.tbsRequest.requestList
        guard list.count <= configuration.maximumRequestsPerMessage else {
            return .failure(Refusal(status: .malformedRequest))
        }
        // RFC 6960 §4.4: unrecognised extensions are ignored unless critical.
        let criticalUnknown =
            request.tbsRequest.requestExtensions?.contains { $0.critical && $0.oid != FleetkeyOID.ocspNonce } == true
            || list.contains { $0.singleRequestExtensions?.contains(where: \.critical) == true }
        guard !criticalUnknown else { return .failure(Refusal(status: .malformedRequest)) }

        var issuer: Int?
        for single in list {
            let certID = single.certID
            guard let algorithm = certID.hashAlgorithm.hashAlgorithm,
                let index = certIDIndex[
                    IssuerDigest(algorithm: algorithm, nameHash: certID.issuerNameHash, keyHash: certID.issuerKeyHash)]
            else {
                return .failure(Refusal(status: .unauthorized))
            }
            // One response has one signer: a request spanning CAs cannot be answered authoritatively by either.
            guard issuer == nil || issuer == index else { return .failure(Refusal(status: .unauthorized)) }
            issuer = index
        }
        guard let issuer else { return .failure(Refusal(status: .malformedRequest)) }
        return .success(ParsedRequest(issuer: issuer, certIDs: list.map(\.certID), nonce: nonce))
    }

    // MARK: Signing

    private struct Signed {
        var body: [UInt8]
        var nextUpdate: Int64
    }

    /// Builds and signs the ResponseData for `answers`, all about `issuer`, produced at `now`.
    private func sign(
        _ answers: [(OCSPCertID, RevocationStatus)], issuer: OCSPServedIssuer, nonce: OCSPNonce?, now: Int64
    ) async throws -> Signed {
        let nextUpdate = now + Int64(configuration.validity.rounded(.down))
        let thisUpdateTime = try OCSPTime.generalizedTime(Date(timeIntervalSince1970: Double(now)))
        let nextUpdateTime = try OCSPTime.generalizedTime(Date(timeIntervalSince1970: Double(nextUpdate)))
        let responses = try answers.map { certID, status in
            var extensions: Certificate.Extensions?
            let certStatus: OCSPCertStatus
            switch status {
            case .good:
                certStatus = .good
            case .unknown:
                certStatus = .unknown
            case .revoked(let at, let reason, let invalidityDate):
                certStatus = .revoked(try OCSPRevokedInfo(revokedAt: at, reason: reason))
                if let invalidityDate {
                    extensions = try Certificate.Extensions([
                        try CRLEntryExtensions.invalidityDateExtension(invalidityDate)
                    ])
                }
            }
            return OCSPSingleResponse(
                certID: certID, certStatus: certStatus, thisUpdate: thisUpdateTime, nextUpdate: nextUpdateTime,
                singleExtensions: extensions)
        }
        let data = OCSPResponseData(
            responderID: issuer.responderID, producedAt: thisUpdateTime, responses: responses,
            responseExtensions: try nonce.map { try Certificate.Extensions([try $0.makeCertificateExtension()]) })
        var serializer = DER.Serializer()
        try serializer.serialize(data)
        let tbs = serializer.serializedBytes
        let signature = try await issuer.responderKey.signAsynchronously(
            bytes: tbs, signatureAlgorithm: issuer.signatureAlgorithm)
        return Signed(
            body: OCSPResponseWire.body(
                responseDataDER: tbs, signatureAlgorithmDER: issuer.signatureAlgorithmDER,
                signature: signature.rawRepresentation),
            nextUpdate: nextUpdate)
    }

    private func answer(
        body: [UInt8], issuer: OCSPServedIssuer, producedAt: Int64, nextUpdate: Int64, fromCache: Bool, nonce: Bool
    ) -> OCSPResponderAnswer {
        OCSPResponderAnswer(
            der: OCSPResponseWire.successful(body: body, certificatesField: issuer.certificatesFieldDER),
            responseStatus: .successful, producedAt: Date(timeIntervalSince1970: Double(producedAt)),
            nextUpdate: Date(timeIntervalSince1970: Double(nextUpdate)), servedFromCache: fromCache,
            echoesNonce: nonce)
    }

    /// The longest validity accepted for answers: a year (and a day), so every time computed stays in range.
    static let longestValidity: TimeInterval = 366 * 86_400

    /// Whole seconds since 1970: OCSP times carry no fractions here.
    private static func seconds(_ date: Date) -> Int64 {
        Int64(date.timeIntervalSince1970.rounded(.down))
    }

    /// A serial's magnitude octets, without the sign octet a DER INTEGER may carry.
    private static func magnitude(_ serial: [UInt8]) -> [UInt8] {
        Array(serial.drop(while: { $0 == 0 }))
    }
}
