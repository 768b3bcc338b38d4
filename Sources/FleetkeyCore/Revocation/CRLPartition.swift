/// Which CRL partition a certificate belongs to, fixed at issuance from its serial number.
///
/// Serials are uniformly random (``SerialNumberGenerator``), so their last four octets spread certificates
/// evenly over the partitions. The same function decides the partition written into the certificate's
/// cRLDistributionPoint and the partition whose CRL lists it once revoked.
public enum CRLPartition {
    public static func index(serial: [UInt8], of count: Int) -> Int {
        guard count > 1 else { return 0 }
        let tail = serial.suffix(4).reduce(UInt32(0)) { $0 << 8 | UInt32($1) }
        return Int(tail % UInt32(count))
    }
}
