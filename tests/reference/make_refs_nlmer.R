# Laplace references for mejax.menl(..., method="laplace") from lme4's nlmer (nAGQ = 1).
# Run from the repository root:  Rscript tests/reference/make_refs_nlmer.R
# Writes tests/reference/menl/nlmer_{orange,theoph}.json: logLik, fixed effects, random-effect
# variances, residual variance. nlmer's fixed-effect SEs come from RX (its finite-difference
# Hessian is not positive definite here), so they are not references.
suppressPackageStartupMessages({ library(lme4); library(jsonlite) })
out_dir <- file.path("tests", "reference", "menl")
sw <- paste("R", getRversion(), "lme4", packageDescription("lme4")$Version)
save_nlmer <- function(id, fit) {
  vc <- as.data.frame(VarCorr(fit))
  ref <- list(software = sw, method = "Laplace (nlmer, nAGQ = 1)",
              loglik = as.numeric(logLik(fit)), fixef = as.list(fixef(fit)),
              re_var = as.list(setNames(vc$vcov[vc$grp != "Residual"], vc$var1[vc$grp != "Residual"])),
              sigma2 = sigma(fit)^2, nobs = nobs(fit))
  write(toJSON(list(id = id, reference = ref), auto_unbox = TRUE, digits = NA, pretty = TRUE),
        file.path(out_dir, paste0(id, ".json")))
  cat(id, ": loglik", ref$loglik, "\n")
}
save_nlmer("nlmer_orange",
           nlmer(circumference ~ SSlogis(age, Asym, xmid, scal) ~ Asym | Tree, data = Orange,
                 start = c(Asym = 192, xmid = 728, scal = 353)))
save_nlmer("nlmer_theoph",
           nlmer(conc ~ SSfol(Dose, Time, lKe, lKa, lCl) ~ (0 + lKa | Subject) + (0 + lCl | Subject),
                 data = Theoph, start = c(lKe = -2.4, lKa = 0.45, lCl = -3.2)))
# plots nested in years, a random Asym at both levels (the mean is linear in the effects, so
# Laplace is the exact integral): for menl's nested Laplace (intmethod(laplace))
soy <- as.data.frame(nlme::Soybean)
soy$YearPlot <- interaction(soy$Year, soy$Plot, drop = TRUE)
save_nlmer("nlmer_soybean_nested",
           nlmer(weight ~ SSlogis(Time, Asym, xmid, scal) ~ (Asym | Year) + (Asym | YearPlot),
                 data = soy, start = c(Asym = 19, xmid = 55, scal = 8)))
