import Foundation
import SwiftASN1
import Synchronization
import X509

/// Revokes certificates: by serial, device, lot or vendor, through the lifecycle state machine.
///
/// The rules live here, once, for every store: what a target covers (``selection(for:)``), what is refused and
/// how it is said, and what a revocation writes (``plan(_:target:reason:invalidityDate:now:)``: certificates, device
/// transitions, the vendor, the events). The store reads the selection and writes the plan in one transaction
/// (``RevocationStore/revoke(_:plan:)``), so nothing issued under a vendor can slip between its revocation's read
/// and write; on a conflict with a concurrent writer the revocation is planned again.
public struct Revoker: Sendable {
    public let store: any RegistryStore & RevocationStore
    public let clock: any WallClock
    public let actor: String
    static let attempts = 3

    public init(store: any RegistryStore & RevocationStore, clock: any WallClock, actor: String) {
        self.store = store
        self.clock = clock
        self.actor = actor
    }

    public func revoke(_ target: RevocationTarget, reason: RevocationReason, invalidityDate: Date? = nil) async throws
        -> RevocationReport
    {
        let selection = try await selection(for: target)
        for attempt in 1...Self.attempts {
            let now = clock.now()
            if let invalidityDate, invalidityDate > now {
                throw FleetkeyError(
                    .invalidArgument, "--invalidity-date is in the future; it must be when the key was compromised")
            }
            let actor = self.actor
            let read = Mutex(RevocationSnapshot(certificates: [], vendor: nil))
            do {
                let unit = try await store.revoke(selection) { snapshot in
                    read.withLock { $0 = snapshot }
                    return try Self.plan(
                        snapshot, target: target, reason: reason, invalidityDate: invalidityDate, now: now, actor: actor
                    )
                }
                let snapshot = read.withLock { $0 }
                let revoked = Set(unit.certificates)
                return RevocationReport(
                    revoked: snapshot.certificates.filter {
                        revoked.contains(.init(issuer: $0.issuer, serial: $0.serial))
                    },
                    alreadyRevoked: snapshot.certificates.count - revoked.count, devices: unit.devices.count,
                    issuers: Set(unit.certificates.map(\.issuer)))
            } catch let error as FleetkeyError where error.code == .conflict && attempt < Self.attempts {
                continue
            }
        }
        throw FleetkeyError(.conflict, "\(target) kept changing under concurrent writers; try again")
    }

    /// What a target covers: the scopes of certificates to read and, for a vendor, the vendor to lock.
    func selection(for target: RevocationTarget) async throws -> RevocationSelection {
        switch target {
        case .certificate(let serial, let issuer):
            guard let bytes = Hex.decode(serial), !bytes.isEmpty else {
                throw FleetkeyError(.invalidArgument, "--serial '\(serial)' is not hexadecimal")
            }
            return RevocationSelection(
                scopes: [.certificate(issuer: issuer, serial: Hex.upper(bytes.drop { $0 == 0 }))], vendor: nil)
        case .device(let serial, let vendor):
            return RevocationSelection(
                scopes: [vendor.map { .device(DeviceID(vendor: $0, serial: serial)) } ?? .deviceSerial(serial)],
                vendor: nil)
        case .lot(let name, let vendor):
            return RevocationSelection(scopes: [.lot(vendor: vendor, name: name)], vendor: nil)
        case .vendor(let name):
            guard let vendor = try await store.vendor(named: name),
                let authority = try await store.authority(id: vendor.authorityID)
            else {
                throw FleetkeyError(.notFound, "unknown vendor '\(name)'; see `fleetkey vendor list`")
            }
            let caSerial = try Certificate(derEncoded: authority.certificateDER).serialNumber.hexString
            return RevocationSelection(
                scopes: [.certificate(issuer: "root", serial: caSerial), .issuer(vendor.authorityID)], vendor: name)
        }
    }

    /// What revoking `target` writes, from what the store read in the revocation's own transaction.
    ///
    /// Every valid certificate selected is revoked; every device they identify that is not yet out of service moves
    /// to `revoked` through ``DeviceLifecycle`` (which allows it from every non-terminal state, so no device can
    /// block a revocation); a vendor target also ends the vendor, so its CA issues nothing more.
    static func plan(
        _ snapshot: RevocationSnapshot, target: RevocationTarget, reason: RevocationReason, invalidityDate: Date?,
        now: Date, actor: String
    ) throws -> RevocationUnit {
        let refs = snapshot.certificates
        var vendorToRevoke: VendorName?
        switch target {
        case .vendor(let name):
            guard let vendor = snapshot.vendor else {
                throw FleetkeyError(.notFound, "unknown vendor '\(name)'; see `fleetkey vendor list`")
            }
            if vendor.state != .revoked { vendorToRevoke = name }
        case .certificate(let serial, _):
            guard refs.count <= 1 else {
                throw FleetkeyError(
                    .invalidArgument,
                    "serial \(serial) was issued by several CAs (\(refs.map(\.issuer).joined(separator: ", "))); "
                        + "name one with --issuer")
            }
        case .device(let serial, _):
            let vendors = Set(refs.compactMap { $0.device?.vendor })
            guard vendors.count <= 1 else {
                throw FleetkeyError(
                    .invalidArgument,
                    "device serial \(serial) exists for several vendors "
                        + "(\(vendors.map(\.value).sorted().joined(separator: ", "))); name one as VENDOR/SERIAL")
            }
        case .lot:
            break
        }
        if refs.isEmpty, vendorToRevoke == nil, snapshot.vendor == nil {
            throw FleetkeyError(.notFound, "no certificate matches \(target) in the registry")
        }

        let lifecycle = DeviceLifecycle()
        let pending = refs.filter { $0.status == .valid }
        var transitions: [RevocationUnit.DeviceTransition] = []
        var seen = Set<DeviceID>()
        for ref in pending {
            guard let device = ref.device, let state = ref.deviceState, !state.isTerminal, seen.insert(device).inserted
            else { continue }
            transitions.append(.init(device: device, from: state, to: try lifecycle.next(from: state, on: .revoke)))
        }
        var events = pending.map { ref in
            LifecycleEvent(
                at: now, actor: actor, action: .certificateRevoked,
                subject: .certificate(issuer: ref.issuer, serial: ref.serial),
                fromState: CertificateStatus.valid.rawValue, toState: CertificateStatus.revoked.rawValue,
                detail: ["reason": reason.name, "target": target.description])
        }
        events += transitions.map { transition in
            LifecycleEvent(
                at: now, actor: actor, action: .deviceRevoked, subject: .device(transition.device),
                fromState: transition.from.rawValue, toState: transition.to.rawValue, detail: ["reason": reason.name])
        }
        if let vendorToRevoke {
            events.append(
                LifecycleEvent(
                    at: now, actor: actor, action: .vendorRevoked, subject: .vendor(vendorToRevoke),
                    fromState: VendorState.active.rawValue, toState: VendorState.revoked.rawValue,
                    detail: ["reason": reason.name]))
        }
        return RevocationUnit(
            certificates: pending.map { .init(issuer: $0.issuer, serial: $0.serial) },
            info: RevocationInfo(revokedAt: now, reason: reason, invalidityDate: invalidityDate), devices: transitions,
            vendor: vendorToRevoke, events: events)
    }
}
