"""What validator images need: the job envelopes, the severity scale and the engine helpers
the fast path shares with the images. Imports nothing else from the product."""
