import FleetkeyCore
import Foundation
import HTTPTypes
import Hummingbird
import Metrics
import NIOCore
import NIOSSL

/// `POST /v1/authz` on the mTLS listener: the owner's gateways ask whether a device may take an action on a
/// resource. The handler decodes the JSON body, checks the client (``AccessDecisionPoint/authenticateRequester(_:)``),
/// asks the core and encodes its decision; refusals and bad input go through ``HTTPErrorMapping``.
///
/// ```
/// POST /v1/authz   {"certificate": "<PEM or base64 DER>", "action": "publish", "resource": "telemetry/t1"}
///               or {"serial": "SN-1", ...}
/// 200              {"decision": "allow"|"deny", "rule": "...", "reason": "...", "device": "...", ...}
/// ```
/// A deny is an answer (200), not an error. Decisions are counted in `/metrics` as
/// `fleetkey_authz_decisions_total{decision="allow"|"deny"}`.
package struct AuthzRoutes: Sendable {
    package let point: AccessDecisionPoint
    let snapshots: AccessSnapshotCache
    let allowed = Counter(label: "fleetkey_authz_decisions_total", dimensions: [("decision", "allow")])
    let denied = Counter(label: "fleetkey_authz_decisions_total", dimensions: [("decision", "deny")])

    package init(point: AccessDecisionPoint, clock: any WallClock) {
        self.point = point
        snapshots = AccessSnapshotCache(registry: point.registry, clock: clock)
    }

    struct Body: Decodable {
        var certificate: String?
        var serial: String?
        var action: String
        var resource: String
    }

    package func register(on router: Router<ESTRequestContext>) {
        router.post("/v1/authz") { request, context -> Response in
            let peer = try await context.channel.nioSSL_peerCertificate().get()
            try await point.authenticateRequester(try peer.map { try $0.toDERBytes() })
            let bytes = try await request.body.collect(upTo: 64 * 1024)
            let body: Body
            do {
                body = try JSONDecoder().decode(Body.self, from: Data(bytes.readableBytesView))
            } catch {
                throw FleetkeyError(
                    .invalidArgument,
                    "the body must be JSON with \"action\", \"resource\" and one of \"certificate\" or \"serial\"")
            }
            let decision = try await point.decide(
                .init(
                    subject: try await subject(body), action: body.action, resource: body.resource,
                    requester: context.remoteAddress?.ipAddress ?? "unknown"),
                snapshot: try await snapshots.current())
            (decision.allowed ? allowed : denied).increment()
            let encoder = JSONEncoder()
            encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
            return Response(
                status: .ok, headers: [.contentType: "application/json"],
                body: .init(byteBuffer: ByteBuffer(bytes: try encoder.encode(decision) + [0x0A])))
        }
    }

    func subject(_ body: Body) async throws -> AccessDecisionPoint.Subject {
        switch (body.certificate, body.serial) {
        case (let text?, nil):
            if text.contains("-----BEGIN") {
                return .certificate(try PEMOrDER.der(Array(text.utf8), label: "CERTIFICATE", source: "\"certificate\""))
            }
            guard let der = Data(base64Encoded: text.filter { !$0.isWhitespace }), !der.isEmpty else {
                throw FleetkeyError(.invalidArgument, "\"certificate\" must be PEM or base64 DER")
            }
            return .certificate(Array(der))
        case (nil, let serial?):
            let devices = try await point.registry.devices(serial: try DeviceSerial(serial))
            guard devices.count == 1, let device = devices.first else {
                throw FleetkeyError(
                    devices.isEmpty ? .notFound : .invalidArgument,
                    devices.isEmpty
                        ? "no device '\(serial)' in this registry" : "serial '\(serial)' belongs to several vendors")
            }
            return .device(device)
        default:
            throw FleetkeyError(.invalidArgument, "give exactly one of \"certificate\" or \"serial\"")
        }
    }
}

/// The groups and policy decisions read, reloaded from the registry at most once a second, so a `fleetkey authz
/// policy set` or `group add` made by another process is in force within a second.
actor AccessSnapshotCache {
    let registry: any AccessStore
    let clock: any WallClock
    var cached: (snapshot: AccessDecisionPoint.Snapshot, at: Date)?

    init(registry: any AccessStore, clock: any WallClock) {
        self.registry = registry
        self.clock = clock
    }

    func current() async throws -> AccessDecisionPoint.Snapshot {
        let now = clock.now()
        if let cached, now.timeIntervalSince(cached.at) < 1 { return cached.snapshot }
        let snapshot = try await AccessDecisionPoint.Snapshot.load(from: registry)
        cached = (snapshot, now)
        return snapshot
    }
}
