"""``python -m spikebridge.closedloop --model model.npz``: serve a saved model on a loopback port."""

from spikebridge.closedloop.bridge import main

if __name__ == "__main__":
    raise SystemExit(main())
