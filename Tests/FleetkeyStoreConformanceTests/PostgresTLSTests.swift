import FleetkeyCore
import FleetkeyPostgres
import FleetkeyTesting
import Foundation
import Testing

/// TLS to a real PostgreSQL server with `ssl = on`, its certificate from a CA made here with openssl.
///
/// `verify-full` checks the server's chain against `sslrootcert` and its name against the host in the URL, so it
/// refuses an impostor; `require` only encrypts, and connects to whoever answers with any certificate: not enough
/// anywhere an attacker could sit between Fleetkey and the database (docs/scale-out.md).
@Suite("PostgreSQL over TLS", .serialized)
struct PostgresTLSTests {
    /// The test CA, the server's certificate for `localhost` (DNS only) signed by it, and an unrelated CA.
    struct Certificates {
        var directory: URL
        var ca: String { directory.appendingPathComponent("ca.pem").path }
        var otherCA: String { directory.appendingPathComponent("other-ca.pem").path }
        var serverCertificate: String { directory.appendingPathComponent("server.pem").path }
        var serverKey: String { directory.appendingPathComponent("server.key").path }

        init(in directory: URL) throws {
            self.directory = directory
            try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
            let ec = ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes"]
            for (name, subject) in [("ca", "/CN=Fleetkey Test Database CA"), ("other-ca", "/CN=Someone Else's CA")] {
                try Self.openssl(
                    ["req", "-x509"] + ec + [
                        "-keyout", directory.appendingPathComponent("\(name).key").path, "-out",
                        directory.appendingPathComponent("\(name).pem").path, "-subj", subject, "-days", "2",
                        "-addext", "basicConstraints=critical,CA:TRUE", "-addext", "keyUsage=critical,keyCertSign",
                    ])
            }
            let request = directory.appendingPathComponent("server.csr").path
            try Self.openssl(["req", "-new"] + ec + ["-keyout", serverKey, "-out", request, "-subj", "/CN=localhost"])
            let extensions = directory.appendingPathComponent("server.ext")
            try Data("subjectAltName=DNS:localhost\nextendedKeyUsage=serverAuth\n".utf8).write(to: extensions)
            try Self.openssl([
                "x509", "-req", "-in", request, "-CA", ca, "-CAkey", directory.appendingPathComponent("ca.key").path,
                "-CAcreateserial", "-days", "2", "-extfile", extensions.path, "-out", serverCertificate,
            ])
        }

        static func openssl(_ arguments: [String]) throws {
            let process = Process()
            process.executableURL = URL(fileURLWithPath: "/usr/bin/openssl")
            process.arguments = arguments
            process.standardOutput = FileHandle.nullDevice
            process.standardError = FileHandle.nullDevice
            try process.run()
            process.waitUntilExit()
            guard process.terminationStatus == 0 else {
                throw FleetkeyError(.configuration, "openssl \(arguments.joined(separator: " ")) failed")
            }
        }
    }

    /// Runs `body` against a private cluster restarted with `ssl = on` and the certificates above (the key readable
    /// by the server alone), and stops the cluster afterwards, whatever happens.
    static func withTLSCluster(_ body: (PrivateCluster, Certificates) async throws -> Void) async throws {
        let cluster = try await PrivateCluster.start()
        do {
            let certificates = try Certificates(in: cluster.directory.url.appendingPathComponent("tls"))
            let data = cluster.directory.url.appendingPathComponent("data")
            let serverUser = try FileManager.default.attributesOfItem(atPath: data.path)[.ownerAccountID] as Any
            try FileManager.default.setAttributes(
                [.ownerAccountID: serverUser], ofItemAtPath: certificates.directory.path)
            for file in [certificates.serverCertificate, certificates.serverKey] {
                try FileManager.default.setAttributes(
                    [.ownerAccountID: serverUser, .posixPermissions: 0o600], ofItemAtPath: file)
            }
            let conf = try FileHandle(forWritingTo: data.appendingPathComponent("postgresql.conf"))
            conf.seekToEndOfFile()
            conf.write(
                Data(
                    """

                    ssl = on
                    ssl_cert_file = '\(certificates.serverCertificate)'
                    ssl_key_file = '\(certificates.serverKey)'

                    """.utf8))
            try conf.close()
            await cluster.stop()
            try await cluster.restart()
            try await body(cluster, certificates)
            await cluster.stop()
        } catch {
            await cluster.stop()
            throw error
        }
    }

    /// The cluster's `postgres` database reached as `host` with the URL parameters `query`.
    static func location(_ cluster: PrivateCluster, host: String, query: String) throws -> PostgresLocation {
        try PostgresLocation(
            url: "postgres://postgres@\(host):\(cluster.location.port)/postgres?connect_timeout=5&\(query)")
    }

    /// Connects through a registry and runs one operation; the number of TLS sessions the server then sees.
    static func connect(_ location: PostgresLocation, cluster: PrivateCluster) async throws -> Int {
        let registry = try PostgresRegistry(location: location, password: nil)
        registry.start()
        do {
            _ = try await registry.vendors()
            // Counted over a plain connection of the test's own.
            let sessions = try await TestPostgres.integer(
                "SELECT count(*) FROM pg_stat_ssl s JOIN pg_stat_activity a USING (pid) WHERE s.ssl "
                    + "AND a.pid <> pg_backend_pid()", on: cluster.location)
            await registry.shutdown()
            return sessions
        } catch {
            await registry.shutdown()
            throw error
        }
    }

    @Test("verify-full connects with the right CA and host name; refuses a wrong CA or a wrong host name")
    func verifyFull() async throws {
        try await Self.withTLSCluster { cluster, certificates in
            let good = try Self.location(
                cluster, host: "localhost", query: "sslmode=verify-full&sslrootcert=\(certificates.ca)")
            #expect(good.url.contains("sslmode=verify-full") && good.url.contains("sslrootcert=\(certificates.ca)"))
            #expect(try await Self.connect(good, cluster: cluster) >= 1, "the registry's connection was not TLS")

            for (host, root, why) in [
                ("localhost", certificates.otherCA, "a CA that did not issue the server's certificate"),
                ("127.0.0.1", certificates.ca, "a host the server's certificate does not name"),
            ] {
                let location = try Self.location(cluster, host: host, query: "sslmode=verify-full&sslrootcert=\(root)")
                let error = await #expect(throws: FleetkeyError.self, "verify-full accepted \(why)") {
                    _ = try await Self.connect(location, cluster: cluster)
                }
                #expect(error?.code == .storage, "\(String(describing: error))")
                #expect(error?.reason.contains(location.url) == true, "\(String(describing: error))")
            }
        }
    }

    @Test("require encrypts but checks nothing: it connects to a server whose certificate it cannot verify")
    func requireIsNotEnough() async throws {
        try await Self.withTLSCluster { cluster, _ in
            // The client trusts no CA here, and reaches the server by a name its certificate does not carry: an
            // impostor with a certificate of its own is accepted just the same. Hence verify-full (docs/scale-out.md).
            for host in ["localhost", "127.0.0.1"] {
                let location = try Self.location(cluster, host: host, query: "sslmode=require")
                #expect(try await Self.connect(location, cluster: cluster) >= 1)
            }
            // libpq reads sslrootcert with require as verify-ca; Fleetkey refuses the combination, not to leave a
            // URL that looks checked but is not.
            #expect(throws: FleetkeyError(.invalidArgument, "")) {
                try Self.location(cluster, host: "localhost", query: "sslmode=require&sslrootcert=/etc/ssl/certs/x.pem")
            }
        }
    }

    @Test("a sslrootcert that is missing or holds no PEM certificate is refused before any connection, naming it")
    func unreadableRoots() throws {
        let directory = try TemporaryDirectory()
        let notPEM = directory.path("not-a-certificate.pem")
        try Data("this is not a certificate\n".utf8).write(to: URL(fileURLWithPath: notPEM))
        for path in [directory.path("missing.pem"), notPEM] {
            let location = try PostgresLocation(
                url: "postgres://fleetkey@db.example.net:5432/fleetkey?sslmode=verify-full&sslrootcert=\(path)")
            let error = #expect(throws: FleetkeyError.self) {
                _ = try PostgresRegistry(location: location, password: nil)
            }
            #expect(error?.code == .configuration)
            #expect(error?.reason.contains("sslrootcert '\(path)'") == true, "\(String(describing: error))")
        }
    }
}
