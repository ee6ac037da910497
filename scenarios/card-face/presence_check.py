"""Checks a text AP card-presence signature with nothing but the Python standard library.

argv: EF 0004 (CV certificate), EF 0007 (signed AP public key), the signed message and the
card's 80 2A signature, each as hex. The CV certificate's key verifies DF52 over the DF51
TLV (header included); the DF51 key verifies the signature over SHA-256(message); both are
RSASSA-PKCS1-v1_5 with SHA-256 (spec §5.3, §5.4, §5.5). Prints one line per check.
"""
import hashlib
import sys

SHA256_PREFIX = bytes.fromhex("3031300D060960864801650304020105000420")


def tlvs(data):
    """BER-TLV objects of `data` as (tag, header+value, value)."""
    out, i = [], 0
    while i < len(data):
        start = i
        tag = data[i]
        i += 1
        if tag & 0x1F == 0x1F:
            while True:
                tag = (tag << 8) | data[i]
                i += 1
                if not data[i - 1] & 0x80:
                    break
        n = data[i]
        i += 1
        if n & 0x80:
            k = n & 0x7F
            n = int.from_bytes(data[i:i + k], "big")
            i += k
        out.append((tag, data[start:i + n], data[i:i + n]))
        i += n
    return out


def key(record):
    """(n, e) from `90 03 <e> 91 82 01 00 <n>`."""
    parts = {tag: value for tag, _, value in tlvs(record)}
    return int.from_bytes(parts[0x91], "big"), int.from_bytes(parts[0x90], "big")


def verifies(pub, message, signature):
    n, e = pub
    k = (n.bit_length() + 7) // 8
    em = pow(int.from_bytes(signature, "big"), e, n).to_bytes(k, "big")
    t = SHA256_PREFIX + hashlib.sha256(message).digest()
    return em == b"\x00\x01" + b"\xff" * (k - len(t) - 3) + b"\x00" + t


cv, signed_key, message, signature = (bytes.fromhex(a) for a in sys.argv[1:5])
body = tlvs(tlvs(cv)[0][2])[0][2]              # 7F21 { 5F4E { issuer id 16, subject id 16, key } }
issuer = key(body[32:])
(df51_tag, df51_tlv, df51), (df52_tag, _, df52) = tlvs(tlvs(signed_key)[0][2])[:2]
assert (df51_tag, df52_tag) == (0xDF51, 0xDF52), (hex(df51_tag), hex(df52_tag))
print("ap key certified:", verifies(issuer, df51_tlv, df52))
print("card signature:", verifies(key(df51), message, signature))
print("other message:", verifies(key(df51), message + b"!", signature))
