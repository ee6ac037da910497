"""SELECT JPKI + VERIFY the auth PIN + sign a SHA-256 DigestInfo with pyscard; prints the SWs."""
import hashlib
import sys

from smartcard.System import readers

pin = sys.argv[1].encode()
reader = [r for r in readers() if "Virtual PCD 00 00" in str(r)][0]
connection = reader.createConnection()
connection.connect()


def send(name, apdu):
    data, sw1, sw2 = connection.transmit(list(apdu))
    print(f"{name} {sw1:02X}{sw2:02X} {len(data)}")
    return data


send("select-jpki", bytes.fromhex("00A4040C0AD392F000260100000001"))
send("select-pin", bytes.fromhex("00A4020C020018"))
send("verify", bytes.fromhex("00200080") + bytes([len(pin)]) + pin)
send("select-key", bytes.fromhex("00A4020C020017"))
digest_info = bytes.fromhex("3031300D060960864801650304020105000420") + hashlib.sha256(b"pyscard").digest()
signature = send("sign", bytes.fromhex("802A0080") + bytes([len(digest_info)]) + digest_info + b"\x00")
open("pyscard.sig", "wb").write(bytes(signature))
