namespace ConvNeXt.Batch.Infrastructure.Tests;

/// <summary>azure.yaml, the Dockerfile and .dockerignore: the parts of `azd up` that cannot run here.</summary>
public sealed class ProjectFileTests
{
    private static string Root => Repository.Root;

    private static IReadOnlyDictionary<string, string> Azd() => AzureYaml.Parse(File.ReadAllText(Path.Combine(Root, "azure.yaml")));

    private static DockerfileModel Model() => new(File.ReadAllText(Path.Combine(Root, "Infrastructure", "Dockerfile")));

    [Fact]
    public void AzureYaml_PointsAtTheBicepInfrastructure()
    {
        var azd = Azd();
        Assert.Equal("bicep", azd["infra.provider"]);
        Assert.Equal("Infrastructure", azd["infra.path"]);
        Assert.True(File.Exists(Path.Combine(Root, azd["infra.path"], azd["infra.module"] + ".bicep")));
        Assert.True(File.Exists(Path.Combine(Root, azd["infra.path"], azd["infra.module"] + ".parameters.json")));
    }

    [Theory]
    [InlineData("scoring")]
    [InlineData("api")]
    public void AzureYaml_DeploysTheFunctionsProjectToBothAppsFromOneDockerfile(string service)
    {
        var azd = Azd();
        Assert.Equal("containerapp", azd[$"services.{service}.host"]);
        Assert.Equal("dotnet", azd[$"services.{service}.language"]);

        var project = Path.GetFullPath(Path.Combine(Root, azd[$"services.{service}.project"]));
        Assert.True(File.Exists(Path.Combine(project, "ConvNeXt.Batch.Functions.csproj")), "project folder " + project);

        // azd resolves docker.path and docker.context against the project folder.
        var dockerfile = Path.GetFullPath(Path.Combine(project, azd[$"services.{service}.docker.path"]));
        Assert.Equal(Path.Combine(Root, "Infrastructure", "Dockerfile"), dockerfile);
        var context = Path.GetFullPath(Path.Combine(project, azd[$"services.{service}.docker.context"]));
        Assert.Equal(Path.TrimEndingDirectorySeparator(Root), Path.TrimEndingDirectorySeparator(context));
        Assert.Equal("linux/amd64", azd[$"services.{service}.docker.platform"]);
    }

    [Fact]
    public void AzureYaml_ServiceNamesMatchTheAzdTagsAndImageParameters()
    {
        var services = Azd().Keys.Where(k => k.StartsWith("services.", StringComparison.Ordinal) && k.EndsWith(".host", StringComparison.Ordinal))
            .Select(k => k.Split('.')[1]).Order().ToList();
        Assert.Equal(["api", "scoring"], services);
        var main = File.ReadAllText(Path.Combine(Root, "Infrastructure", "main.bicep"));
        var parameters = File.ReadAllText(Path.Combine(Root, "Infrastructure", "main.parameters.json"));
        foreach (var service in services)
        {
            // azd finds the app by its azd-service-name tag and passes the pushed image as SERVICE_<NAME>_IMAGE_NAME.
            Assert.Contains($"serviceName: '{service}'", main);
            Assert.Contains($"${{SERVICE_{service.ToUpperInvariant()}_IMAGE_NAME=}}", parameters);
        }
    }

    [Fact]
    public void AzureYamlParser_RejectsWhatItCannotRead()
    {
        Assert.Throws<FormatException>(() => AzureYaml.Parse("services:\n  - name: functions\n"));
        Assert.Throws<FormatException>(() => AzureYaml.Parse("services: [a, b]\n".Replace("services: ", "services:\n  ")));
        Assert.Equal("b", AzureYaml.Parse("a:\n  x: b # note\n")["a.x"]);
        var list = AzureYaml.Parse("a:\n  args:\n    - X=1\n    - Y=${Z}\n  next: c\n");
        Assert.Equal(("X=1", "Y=${Z}", "c"), (list["a.args.0"], list["a.args.1"], list["a.next"]));
    }

    [Fact]
    public void Dockerfile_Stages_FinalImageCopiesOnlyFromStagesThatExist()
    {
        var docker = Model();
        Assert.Equal(["build", "bundle", "cuda", "cuda-cpu", "cuda-gpu", "dotnet-runtime"], docker.Stages.Where(s => s.Name is not null).Select(s => s.Name!).Order());
        Assert.Null(docker.Final.Name);
        Assert.StartsWith("mcr.microsoft.com/azure-functions/", docker.ImageOf(docker.Final));
        Assert.Matches(@"^nvidia/cuda:1[23]\.[0-9.]+-cudnn-runtime-ubuntu22\.04$", docker.ImageOf(docker.Named("cuda-gpu")));
        Assert.Equal("cuda-gpu", docker.ImageOf(docker.Named("cuda")));
        Assert.StartsWith("mcr.microsoft.com/dotnet/sdk:", docker.ImageOf(docker.Named("build")));

        var copies = docker.Final.CopiesFromStages().ToList();
        Assert.All(copies, c => Assert.Contains(docker.Stages, s => s.Name == c.From));
        Assert.Equal(["build", "bundle", "cuda", "dotnet-runtime"], copies.Select(c => c.From).Distinct().Order());
    }

    [Fact]
    public void Dockerfile_BuildStage_CopiesWhatTheAssembleScriptProduces_IntoTheScriptRoot()
    {
        var docker = Model();
        var build = docker.Named("build");
        var workdir = build.Arguments("WORKDIR").Last();
        var run = Assert.Single(build.Arguments("RUN"), r => r.Contains("scripts/assemble-functionapp.sh", StringComparison.Ordinal));
        // The script runs with its default output folder (no --out) and without the sample settings.
        Assert.DoesNotContain("--out", run);
        Assert.DoesNotContain("--local-settings", run);
        var script = File.ReadAllText(Path.Combine(Root, "scripts", "assemble-functionapp.sh"));
        Assert.Contains("out=\"$root/artifacts/functionapp\"", script);

        var app = Assert.Single(docker.Final.CopiesFromStages(), c => c.From == "build");
        Assert.Equal($"{workdir}/artifacts/functionapp/", app.Source);
        Assert.Equal(docker.Final.Environment()["AzureWebJobsScriptRoot"].TrimEnd('/') + "/", app.Destination);
        Assert.Equal("custom", docker.Final.Environment()["FUNCTIONS_WORKER_RUNTIME"]);
    }

    [Fact]
    public void Dockerfile_FinalImage_CapsMallocArenas()
    {
        // Measured: without the cap the handler's peak RSS over a 50k-image run grew 78 MB from 1k, with it 45 MB.
        Assert.Equal("2", Model().Final.Environment().GetValueOrDefault("MALLOC_ARENA_MAX"));
    }

    [Fact]
    public async Task AssembleScript_ProducesTheFilesTheHostNeeds_AndNoLocalSettings()
    {
        var output = Path.Combine(Path.GetTempPath(), "convnext-image-" + Guid.NewGuid().ToString("N")[..8]);
        try
        {
            var start = new System.Diagnostics.ProcessStartInfo("bash", [Path.Combine(Root, "scripts", "assemble-functionapp.sh"), "--out", output, "--no-publish"])
                { RedirectStandardOutput = true, RedirectStandardError = true };
            using var process = System.Diagnostics.Process.Start(start)!;
            var stderr = await process.StandardError.ReadToEndAsync();
            await process.WaitForExitAsync();
            Assert.True(process.ExitCode == 0, stderr);

            Assert.False(File.Exists(Path.Combine(output, "local.settings.json")), "the sample settings must not reach the image");
            using var host = System.Text.Json.JsonDocument.Parse(File.ReadAllText(Path.Combine(output, "host.json")));
            var functions = Directory.GetDirectories(Path.Combine(Root, "Functions", "function-app")).Select(Path.GetFileName).Order().ToList();
            Assert.Equal(functions, Directory.GetDirectories(output).Select(Path.GetFileName).Order().ToList());
            Assert.All(functions, f => Assert.True(File.Exists(Path.Combine(output, f!, "function.json"))));

            // The host starts <script root>/handler/convnext-batch-handler: the publish folder and assembly name the script produces.
            var executable = host.RootElement.GetProperty("customHandler").GetProperty("description").GetProperty("defaultExecutablePath").GetString()!;
            var script = File.ReadAllText(Path.Combine(Root, "scripts", "assemble-functionapp.sh"));
            Assert.Contains("-o \"$out/handler\"", script);
            var project = File.ReadAllText(Path.Combine(Root, "Functions", "ConvNeXt.Batch.Functions.csproj"));
            Assert.Equal($"handler/{System.Text.RegularExpressions.Regex.Match(project, "<AssemblyName>(.+)</AssemblyName>").Groups[1].Value}", executable);

            // With --local-settings (the local run) the sample is there.
            var local = new System.Diagnostics.ProcessStartInfo("bash", [Path.Combine(Root, "scripts", "assemble-functionapp.sh"), "--out", output, "--no-publish", "--local-settings"])
                { RedirectStandardOutput = true, RedirectStandardError = true };
            using var localRun = System.Diagnostics.Process.Start(local)!;
            await localRun.WaitForExitAsync();
            Assert.Equal(0, localRun.ExitCode);
            Assert.True(File.Exists(Path.Combine(output, "local.settings.json")));
        }
        finally
        {
            if (Directory.Exists(output))
                Directory.Delete(output, recursive: true);
        }
    }

    [Fact]
    public void Dockerfile_BakesTheExtensionBundleAtTheHostsProbingPath_InsideHostJsonsRange()
    {
        var docker = Model();
        using var host = System.Text.Json.JsonDocument.Parse(File.ReadAllText(Path.Combine(Root, "host.json")));
        var bundle = host.RootElement.GetProperty("extensionBundle");
        var id = bundle.GetProperty("id").GetString()!;

        var version = docker.GlobalArgs["EXTENSION_BUNDLE_VERSION"]!;
        Assert.True(InRange(version, bundle.GetProperty("version").GetString()!), $"bundle {version} outside host.json's {bundle.GetProperty("version").GetString()}");

        var stage = docker.Named("bundle");
        Assert.Contains("EXTENSION_BUNDLE_VERSION", stage.Args().Keys);
        var run = Assert.Single(stage.Arguments("RUN"));
        // Unpacked into /FuncExtensionBundles/<id>/<version>/ and checked for the bundle.json the host looks for.
        Assert.Contains($"dir=/FuncExtensionBundles/{id}/${{EXTENSION_BUNDLE_VERSION}}", run);
        Assert.Contains($"/{id}/${{EXTENSION_BUNDLE_VERSION}}/{id}.${{EXTENSION_BUNDLE_VERSION}}_linux-x64.zip", run);
        Assert.Contains("unzip -q /tmp/bundle.zip -d \"$dir\"", run);
        Assert.Contains("test -f \"$dir/bundle.json\"", run);

        var copy = Assert.Single(docker.Final.CopiesFromStages(), c => c.From == "bundle");
        Assert.Equal(("/FuncExtensionBundles/", "/FuncExtensionBundles/"), (copy.Source, copy.Destination));
    }

    [Fact]
    public void HostJson_KeepsOnlyServiceBusSettingsThatApply_AndBatchesFitTheLock()
    {
        using var host = System.Text.Json.JsonDocument.Parse(File.ReadAllText(Path.Combine(Root, "host.json")));
        var serviceBus = host.RootElement.GetProperty("extensions").GetProperty("serviceBus");
        var names = serviceBus.EnumerateObject().Select(p => p.Name).ToList();
        // No session queues; the batch wait applies only with a minimum batch above 1.
        Assert.DoesNotContain("maxConcurrentSessions", names);
        Assert.DoesNotContain("maxBatchWaitTime", names);
        Assert.DoesNotContain("minMessageBatchSize", names);
        // Batch locks are not renewed and run from receipt: nothing waits locked in a prefetch buffer,
        // and the batch is the size the README's lock arithmetic was done for.
        Assert.Equal(0, serviceBus.GetProperty("prefetchCount").GetInt32());
        Assert.Equal(32, serviceBus.GetProperty("maxMessageBatchSize").GetInt32());
        // The single-message chunk function's lock is renewed for as long as it may run.
        var renewal = TimeSpan.Parse(serviceBus.GetProperty("maxAutoLockRenewalDuration").GetString()!, System.Globalization.CultureInfo.InvariantCulture);
        var timeout = TimeSpan.Parse(host.RootElement.GetProperty("functionTimeout").GetString()!, System.Globalization.CultureInfo.InvariantCulture);
        Assert.True(renewal >= timeout, $"lock renewal {renewal} shorter than the function timeout {timeout}");
        Assert.Equal(1, serviceBus.GetProperty("maxConcurrentCalls").GetInt32());
        var readme = File.ReadAllText(Path.Combine(Root, "README.md"));
        Assert.Contains("#### Message locks (host.json)", readme);
        Assert.Contains("`maxMessageBatchSize: 32`", readme);
    }

    /// <summary>NuGet-style range "[4.*, 5.0.0)" (the form host.json uses) against a version.</summary>
    private static bool InRange(string version, string range)
    {
        var parts = range.Trim('[', '(', ']', ')').Split(',', StringSplitOptions.TrimEntries);
        var v = Version.Parse(version);
        var lower = Version.Parse(parts[0].Replace("*", "0"));
        var upper = Version.Parse(parts[1]);
        return (range.StartsWith('[') ? v >= lower : v > lower) && (range.EndsWith(']') ? v <= upper : v < upper);
    }

    [Fact]
    public void Dockerfile_BuildsTheGpuFlavourOfTheHandler()
    {
        var docker = Model();
        var build = docker.Named("build");
        Assert.Equal("gpu", docker.GlobalArgs["ONNX_RUNTIME_FLAVOR"]);
        Assert.True(build.Args().ContainsKey("ONNX_RUNTIME_FLAVOR"));
        // MSBuild reads the environment: every dotnet call of the stage (the script's publish too) gets the flavour.
        Assert.Equal("${ONNX_RUNTIME_FLAVOR:-gpu}", build.Environment()["OnnxRuntimeFlavor"]);
        var restore = Assert.Single(build.Arguments("RUN"), r => r.StartsWith("dotnet restore Functions/ConvNeXt.Batch.Functions.csproj", StringComparison.Ordinal));
        Assert.Contains("-p:OnnxRuntimeFlavor=${OnnxRuntimeFlavor}", restore);
        // A pinned version that does not exist (NuGet takes a higher one: NU1603) fails the image build.
        Assert.Contains("-warnaserror:NU1603", restore);
        // The build fails if the CUDA provider did not make it into the published handler.
        Assert.Contains(build.Arguments("RUN"), r => r.Contains("libonnxruntime_providers_cuda.so", StringComparison.Ordinal));

        // The property the Dockerfile sets is the one Directory.Packages.props switches on.
        var packages = File.ReadAllText(Path.Combine(Root, "Directory.Packages.props"));
        Assert.Contains("'$(OnnxRuntimeFlavor)' == 'Gpu'", packages);
    }

    [Fact]
    public async Task GpuFlavour_SetInTheEnvironment_SwitchesThePackage()
    {
        // The Dockerfile relies on MSBuild reading OnnxRuntimeFlavor from the environment so the
        // assemble script's own dotnet publish gets the CUDA build of ONNX Runtime.
        var dotnet = Environment.GetEnvironmentVariable("DOTNET_HOST_PATH") is { Length: > 0 } host && File.Exists(host) ? host : "dotnet";
        var start = new System.Diagnostics.ProcessStartInfo(dotnet)
        {
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            WorkingDirectory = Root,
        };
        foreach (var arg in new[] { "msbuild", "Functions/ConvNeXt.Batch.Functions.csproj", "-getProperty:OnnxRuntimePackage", "-nologo" })
            start.ArgumentList.Add(arg);
        start.Environment["OnnxRuntimeFlavor"] = "Gpu";
        start.Environment["DOTNET_CLI_TELEMETRY_OPTOUT"] = "1";
        using var process = System.Diagnostics.Process.Start(start)!;
        var stderr = process.StandardError.ReadToEndAsync();
        var output = await process.StandardOutput.ReadToEndAsync();
        await process.WaitForExitAsync();
        Assert.True(process.ExitCode == 0, await stderr);
        Assert.Equal("Microsoft.ML.OnnxRuntime.Gpu", output.Trim());
    }

    [Fact]
    public void Dockerfile_AddsCudaAndCudnn9Libraries_OnTheLoaderPath()
    {
        var docker = Model();
        var cuda = docker.Named("cuda-gpu");
        var collect = Assert.Single(cuda.Arguments("RUN"));
        foreach (var library in new[] { "libcudart", "libcublas", "libcublasLt", "libcufft", "libcurand" })
            Assert.Matches($@"\b{library}\b", collect);
        Assert.Contains("libcudnn*.so.9", collect);
        Assert.Contains("mkdir -p /cuda-libs", collect);

        var copy = Assert.Single(docker.Final.CopiesFromStages(), c => c.From == "cuda");
        Assert.Equal("/cuda-libs/", copy.Source);
        var libraryDirectory = copy.Destination.TrimEnd('/');
        Assert.Equal(libraryDirectory, docker.Final.Environment()["LD_LIBRARY_PATH"]);
        Assert.Contains(docker.Final.Arguments("RUN"), r => r.Contains($"echo {libraryDirectory} > /etc/ld.so.conf.d/", StringComparison.Ordinal) && r.Contains("ldconfig", StringComparison.Ordinal));
        // .NET 10 runtime for the handler next to the host's own.
        Assert.Contains(docker.Final.CopiesFromStages(), c => c.From == "dotnet-runtime" && c.Destination == "/usr/share/dotnet/");
    }

    [Fact]
    public void Dockerfile_RunsAsNonRootOnThePortTheAppTargets()
    {
        var final = Model().Final;
        var name = final.Arguments("USER").Last().Split(':')[0];
        Assert.NotEqual("root", name);
        Assert.NotEqual("0", name);
        Assert.Equal("http://+:8080", final.Environment()["ASPNETCORE_URLS"]);
        Assert.Equal("8080", final.Arguments("EXPOSE").Single());
        var functionApp = File.ReadAllText(Path.Combine(Root, "Infrastructure", "modules", "functionapp.bicep"));
        Assert.Contains("var httpPort = 8080", functionApp);
    }

    [Fact]
    public void Dockerfile_FailsTheGpuBuildWhenLddFindsAMissingLibraryForTheCudaProvider()
    {
        var final = Model().Final;
        var check = Assert.Single(final.Arguments("RUN"), r => r.Contains("ldd", StringComparison.Ordinal));
        Assert.Contains("libonnxruntime_providers_cuda.so", check);
        Assert.Contains("grep 'not found'", check);
        Assert.Contains("exit 1", check);
        // Only the driver library, mounted from the GPU node at run time, may be absent.
        Assert.Contains("grep -v 'libcuda\\.so'", check);
        Assert.Contains("/opt/cuda/lib", check);
        Assert.Contains("\"${ONNX_RUNTIME_FLAVOR:-gpu}\" = \"gpu\"", check);
        Assert.True(final.Args().ContainsKey("ONNX_RUNTIME_FLAVOR"), "the final stage must declare the flavour to read it");
    }

    [Fact]
    public void Dockerfile_CpuFlavour_BuildsNoCudaStage_AndTheGpuFlavourDoes()
    {
        var docker = Model();
        static bool Cuda(DockerfileModel d, DockerfileModel.Stage s, IReadOnlyDictionary<string, string>? args) =>
            d.ImageOf(s, args).StartsWith("nvidia/cuda", StringComparison.Ordinal);
        Assert.Contains(docker.StagesBuilt(), s => Cuda(docker, s, null));
        Assert.Contains(docker.StagesBuilt(new Dictionary<string, string> { ["ONNX_RUNTIME_FLAVOR"] = "" }), s => Cuda(docker, s, null)); // unset azd variable
        var cpu = new Dictionary<string, string> { ["ONNX_RUNTIME_FLAVOR"] = "cpu" };
        var built = docker.StagesBuilt(cpu);
        Assert.DoesNotContain(built, s => Cuda(docker, s, cpu));
        Assert.Contains(built, s => s.Name == "cuda-cpu");
        Assert.Equal(["mkdir -p /cuda-libs"], docker.Named("cuda-cpu").Arguments("RUN"));

        // azd passes the flavour main.bicep derives from scoringProfile.
        var azd = Azd();
        foreach (var service in new[] { "scoring", "api" })
            Assert.Equal("ONNX_RUNTIME_FLAVOR=${IMAGE_FLAVOR}", azd[$"services.{service}.docker.buildArgs.0"]);
        Assert.Contains("output IMAGE_FLAVOR string = profile.device == 'cuda' ? 'gpu' : 'cpu'",
            File.ReadAllText(Path.Combine(Root, "Infrastructure", "main.bicep")));
    }

    [Fact]
    public void OnnxRuntime_CpuAndGpuPackagesArePinnedToTheSameVersion_AndNU1603IsNotSuppressed()
    {
        var packages = System.Xml.Linq.XDocument.Load(Path.Combine(Root, "Directory.Packages.props"));
        var versions = packages.Descendants("PackageVersion").ToDictionary(p => (string)p.Attribute("Include")!, p => (string)p.Attribute("Version")!);
        // The image builds with the GPU package, the tests run the CPU one: the same version, or the tests say nothing about the image.
        Assert.Equal(versions["Microsoft.ML.OnnxRuntime"], versions["Microsoft.ML.OnnxRuntime.Gpu"]);
        Assert.Equal("1.32.0", versions["Microsoft.ML.OnnxRuntime.Gpu"]);
        foreach (var props in new[] { "Directory.Build.props", Path.Combine("tests", "Directory.Build.props") })
        {
            var noWarn = System.Xml.Linq.XDocument.Load(Path.Combine(Root, props)).Descendants("NoWarn").Select(n => n.Value);
            Assert.DoesNotContain(noWarn, n => n.Contains("NU1603", StringComparison.Ordinal));
        }
    }

    [Fact]
    public void AzureYaml_PostprovisionHook_ChecksKindAndPinsTheModel()
    {
        var azd = Azd();
        Assert.Equal("scripts/azd-postprovision.sh", azd["hooks.postprovision.run"]);
        Assert.Equal("false", azd["hooks.postprovision.continueOnError"]);
        var script = File.ReadAllText(Path.Combine(Root, "scripts", "azd-postprovision.sh"));
        Assert.Contains("--query kind -o tsv", script);
        Assert.Contains("[ \"$kind\" = \"functionapp\" ]", script);
        Assert.Contains("azd env set MODEL_SHA256", script);
        Assert.Contains("Model__Sha256=$sha", script);
    }

    [Fact]
    public void DockerIgnore_KeepsSourcesAndDropsBuildOutput()
    {
        var rules = File.ReadAllLines(Path.Combine(Root, ".dockerignore"))
            .Select(l => l.Trim()).Where(l => l.Length > 0 && !l.StartsWith('#')).ToList();
        Assert.Contains("**/bin/", rules);
        Assert.Contains("**/obj/", rules);
        Assert.Contains(".git", rules);
        foreach (var needed in new[] { "Functions", "Scoring", "scripts", "host.json", "Directory.Packages.props", "Directory.Build.props" })
            Assert.DoesNotContain(rules, r => r.TrimEnd('/') == needed || r == "*" || r == "**");
    }
}
