"""edgeai-emulator: an emulated 64-bit ARM Linux target (QEMU user mode in a Debian arm64 root filesystem).

``edgeai target create aarch64 DIR`` builds the root filesystem and installs edgeai-core and the chosen runtime
plugins into it; ``edgeai target start DIR`` runs ``edgeai serve`` inside it on the loopback interface;
``edgeai target stop DIR`` ends it and unmounts; ``edgeai target status DIR`` says what is there. Timings on
such a target are emulated time (20-80x native or slower), never device time.
"""

__version__ = "0.1.0"
