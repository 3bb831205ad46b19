# Stand-in for oe-core's allarch.bbclass (see ../README.md). As mickledore's,
# it sets PACKAGE_ARCH = "all" when the recipe is finalised, so a PACKAGE_ARCH
# the recipe sets after inheriting it does not win (under multilib the real
# class steps aside; these tests have no multilib).
python allarch_package_arch_handler () {
    d.setVar("PACKAGE_ARCH", "all")
}
addhandler allarch_package_arch_handler
allarch_package_arch_handler[eventmask] = "bb.event.RecipePreFinalise"
