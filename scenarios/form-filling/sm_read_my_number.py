"""Reads the My Number from the text AP under secure messaging (spec §5.6), with pyscard.

argv: the text AP PIN. Prints the 12 digits on stdout and each step's status word on
stderr. Needs python3-pyscard and python3-cryptography (RSA-OAEP, AES).
"""
import os
import sys

from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import padding, rsa
from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes
from smartcard.System import readers

pin = sys.argv[1].encode()
reader = [r for r in readers() if "Virtual PCD 00 00" in str(r)][0]
connection = reader.createConnection()
connection.connect()


def send(name, apdu, want=0x9000):
    data, sw1, sw2 = connection.transmit(list(apdu))
    sw = (sw1 << 8) | sw2
    print(f"{name} {sw:04X}", file=sys.stderr)
    if sw != want:
        sys.exit(f"{name}: {sw:04X}, expected {want:04X}")
    return bytes(data)


def tlv(data):
    """The first BER-TLV object of `data`: (tag, value)."""
    tag, i = data[0], 1
    if tag & 0x1F == 0x1F:
        tag, i = (tag << 8) | data[1], 2
    n = data[i]
    i += 1
    if n & 0x80:
        k = n & 0x7F
        n, i = int.from_bytes(data[i:i + k], "big"), i + k
    return tag, data[i:i + n]


# In the clear: SELECT the text AP, VERIFY its PIN (the prerequisite), read the EF 0006 key.
send("select-text-ap", bytes.fromhex("00A4040C0AD3921000310001010408"))
send("select-pin", bytes.fromhex("00A4020C020011"))
send("verify-pin", bytes.fromhex("00200080") + bytes([len(pin)]) + pin)
send("select-0006", bytes.fromhex("00A4020C020006"))
record = send("read-0006", bytes.fromhex("00B00000000000"))
tag, inner = tlv(record)
assert tag == 0xA1, hex(tag)
parts, rest = {}, inner
while rest:
    t, v = tlv(rest)
    parts[t] = v
    rest = rest[rest.index(v) + len(v):] if v else rest[2:]
public = rsa.RSAPublicNumbers(int.from_bytes(parts[0x90], "big"), int.from_bytes(parts[0x91], "big")).public_key()

# SET SESSION KEY: A0 22 80 20 <32 random bytes>, RSA-OAEP SHA-256 / MGF1-SHA-256, extended Lc.
secret = os.urandom(32)
oaep = padding.OAEP(mgf=padding.MGF1(hashes.SHA256()), algorithm=hashes.SHA256(), label=None)
ciphertext = public.encrypt(bytes.fromhex("A0228020") + secret, oaep)
send("set-session-key", bytes.fromhex("80AE0000000100") + ciphertext)
key = secret[:16]
counter = 0


def next_iv():
    """IV of SM command N = AES-128-ECB(key, N as 16 bytes big-endian)."""
    global counter
    counter += 1
    enc = Cipher(algorithms.AES(key), modes.ECB()).encryptor()
    return enc.update(counter.to_bytes(16, "big")) + enc.finalize()


def protect(iv, plain):
    padded = plain + b"\x80" + b"\x00" * (-(len(plain) + 1) % 16)
    enc = Cipher(algorithms.AES(key), modes.CBC(iv)).encryptor()
    ct = enc.update(padded) + enc.finalize()
    return bytes([0x86, len(ct) + 1, 0x01]) + ct


def unprotect(iv, data):
    tag, value = tlv(data)
    assert tag == 0x86 and value[0] == 0x01, data.hex()
    dec = Cipher(algorithms.AES(key), modes.CBC(iv)).decryptor()
    plain = dec.update(value[1:]) + dec.finalize()
    return plain[:plain.rindex(b"\x80")]


def sm(name, header, plain):
    body = protect(next_iv(), plain)
    return send(name, bytes.fromhex(header) + bytes([len(body)]) + body)


# Under SM (CLA 08): VERIFY the PIN by SFI 11, SELECT EF 0001, READ BINARY the whole file.
sm("sm-verify-pin", "08200091", pin)
sm("sm-select-0001", "08A4020C", bytes.fromhex("0001"))
iv = next_iv()
response = send("sm-read-0001", bytes.fromhex("08B00000 000005 9603000000 0000".replace(" ", "")))
file = unprotect(iv, response)
assert file[:3] == bytes.fromhex("FF100C"), file.hex()
print(file[3:15].decode("ascii"))
