"""Host-side tools that turn the TF1 SSDLite MobileNetV2 checkpoint into the model bundle."""
