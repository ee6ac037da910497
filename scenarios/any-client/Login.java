import java.security.MessageDigest;
import java.util.HexFormat;
import java.util.List;
import javax.smartcardio.*;

/** SELECT JPKI + VERIFY the auth PIN + sign a SHA-256 DigestInfo; prints the SWs. */
public class Login {
    static CardChannel channel;

    static byte[] send(String name, byte[] apdu) throws Exception {
        ResponseAPDU r = channel.transmit(new CommandAPDU(apdu));
        System.out.printf("%s %04X %d%n", name, r.getSW(), r.getData().length);
        return r.getData();
    }

    public static void main(String[] args) throws Exception {
        HexFormat hex = HexFormat.of();
        byte[] pin = args[0].getBytes("US-ASCII");
        List<CardTerminal> terminals = TerminalFactory.getDefault().terminals().list();
        CardTerminal terminal = terminals.stream().filter(t -> t.getName().contains("Virtual PCD 00 00")).findFirst().get();
        Card card = terminal.connect("*");
        channel = card.getBasicChannel();
        send("select-jpki", hex.parseHex("00A4040C0AD392F000260100000001"));
        send("select-pin", hex.parseHex("00A4020C020018"));
        byte[] verify = new byte[5 + pin.length];
        System.arraycopy(hex.parseHex("00200080"), 0, verify, 0, 4);
        verify[4] = (byte) pin.length;
        System.arraycopy(pin, 0, verify, 5, pin.length);
        send("verify", verify);
        send("select-key", hex.parseHex("00A4020C020017"));
        byte[] digest = MessageDigest.getInstance("SHA-256").digest("javax.smartcardio".getBytes("US-ASCII"));
        byte[] di = hex.parseHex("3031300D060960864801650304020105000420" + hex.formatHex(digest));
        byte[] sign = new byte[5 + di.length + 1];
        System.arraycopy(hex.parseHex("802A0080"), 0, sign, 0, 4);
        sign[4] = (byte) di.length;
        System.arraycopy(di, 0, sign, 5, di.length);
        byte[] signature = send("sign", sign);
        java.nio.file.Files.write(java.nio.file.Path.of("java.sig"), signature);
        card.disconnect(false);
    }
}
