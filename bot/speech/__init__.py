"""Voice messages without WeChat's transcript: their sound decoded and sent to a speech-to-text server."""
